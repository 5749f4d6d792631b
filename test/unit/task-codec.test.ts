// Defining, loading and running user-defined tasks: defineTask, the input/output codec, tasksOf, definitionHandler.
import { describe, expect, it } from "vitest"
import { Schema } from "../../src/domain/schema.ts"
import { decodeInput, decodeOutput, encodeInput, encodeOutput } from "../../src/tasks/codec.ts"
import { defineTask, isTaskDefinition, type AnyTaskDefinition } from "../../src/tasks/define.ts"
import { TaskModuleError, tasksOf } from "../../src/tasks/load.ts"
import { definitionHandler } from "../../src/tasks/run.ts"
import { TaskError, type TaskContext } from "../../src/worker/task-handler.ts"

const counter = defineTask({
  name: "count",
  input: Schema.Struct({ n: Schema.Number, tags: Schema.optionalKey(Schema.Array(Schema.Struct({ label: Schema.String }))) }),
  output: Schema.Struct({ count: Schema.Number }),
  handler: ({ n }) => ({ count: n + 1 })
})
const dated = defineTask({
  name: "dated",
  input: Schema.Struct({ when: Schema.DateFromString }),
  output: Schema.Struct({ later: Schema.DateFromString }),
  handler: ({ when }) => ({ later: new Date(when.getTime() + 1000) })
})
const anything = defineTask({ name: "anything", input: Schema.Unknown, output: Schema.Unknown, handler: (x) => x })
const numeric = defineTask({ name: "numeric", input: Schema.Number, output: Schema.Number, handler: (x) => x })

/** The message of what `f` throws. */
const thrown = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error("nothing was thrown")
}

describe("defineTask", () => {
  it("returns a frozen definition with empty defaults", () => {
    expect(isTaskDefinition(counter)).toBe(true)
    expect(Object.isFrozen(counter)).toBe(true)
    expect(counter).toMatchObject({ _tag: "TaskDefinition", name: "count", defaults: {} })
    expect(isTaskDefinition({ name: "count" })).toBe(false)
  })

  it("refuses a bad name, a handler that is not a function, and input or output that is not a Schema", () => {
    expect(thrown(() => defineTask({ name: "bad name", input: Schema.Number, output: Schema.Number, handler: (x) => x }))).toBe(
      `task name "bad name" must be 1-64 letters, digits, '_' or '-'`
    )
    expect(thrown(() => defineTask({ name: "x".repeat(65), input: Schema.Number, output: Schema.Number, handler: (x) => x }))).toMatch(/^task name "x+" must be/)
    expect(thrown(() => defineTask({ name: "ok", input: Schema.Number, output: Schema.Number, handler: 5 as never }))).toBe("task ok: handler must be a function")
    expect(thrown(() => defineTask({ name: "ok", input: {} as never, output: Schema.Number, handler: (x: number) => x }))).toBe(
      `task ok: input and output must be Schemas (import { Schema } from "dtq")`
    )
    expect(thrown(() => defineTask({ name: "ok", input: Schema.Number, output: "x" as never, handler: (x: number) => x }))).toBe(
      `task ok: input and output must be Schemas (import { Schema } from "dtq")`
    )
  })
})

describe("task codec: inputs", () => {
  it("errors name the field with an input. prefix", () => {
    expect(encodeInput(counter, { n: "x" })).toEqual({ ok: false, error: `input.n: Expected number, got "x"` })
    expect(decodeInput(counter, { n: "x" })).toEqual({ ok: false, error: `input.n: Expected number, got "x"` })
    expect(decodeInput(counter, { n: 1, tags: [{ label: "a" }, { label: 2 }] })).toEqual({ ok: false, error: "input.tags[1].label: Expected string, got 2" })
    expect(decodeInput(counter, "nope")).toEqual({ ok: false, error: `input: Expected object, got "nope"` })
  })

  it("refuses excess properties, naming them", () => {
    expect(decodeInput(counter, { n: 1, extra: 2 })).toEqual({ ok: false, error: "input.extra: Expected no excess property, got 2" })
  })

  it("a Date round-trips through its wire form with Schema.DateFromString", () => {
    const wire = encodeInput(dated, { when: new Date(0) })
    expect(wire).toEqual({ ok: true, value: { when: "1970-01-01T00:00:00.000Z" } })
    const back = decodeInput(dated, { when: "1970-01-01T00:00:00.000Z" })
    expect(back).toEqual({ ok: true, value: { when: new Date(0) } })
    expect(back.ok && (back.value as { when: unknown }).when).toBeInstanceOf(Date)
    expect(decodeInput(dated, { when: "garbage" })).toEqual({ ok: false, error: `input.when: Expected a valid Date, got "garbage"` })
  })

  it("encodeInput refuses what JSON cannot carry, naming where", () => {
    expect(encodeInput(counter, { n: NaN })).toEqual({ ok: false, error: "input.n: is NaN, which JSON cannot hold" })
    expect(encodeInput(anything, 1n)).toEqual({ ok: false, error: "input: is a bigint, which JSON cannot hold" })
    expect(encodeInput(anything, { list: [1, () => 2] })).toEqual({ ok: false, error: "input.list[1]: is a function, which JSON cannot hold" })
  })

  it("encodeInput runs the schema's checks and returns the wire form", () => {
    const short = defineTask({ name: "short", input: Schema.Struct({ s: Schema.String.check(Schema.isMinLength(3)) }), output: Schema.Unknown, handler: (x) => x })
    expect(encodeInput(short, { s: "ab" })).toEqual({ ok: false, error: `input.s: Expected a value with a length of at least 3, got "ab"` })
    expect(encodeInput(dated, { when: new Date(NaN) })).toEqual({ ok: false, error: "input.when: Expected a valid Date, got null" })
    expect(encodeInput(counter, { n: 1, tags: [{ label: "a" }] })).toEqual({ ok: true, value: { n: 1, tags: [{ label: "a" }] } })
  })
})

describe("task codec: outputs", () => {
  it("errors name the field with an output. prefix", () => {
    expect(encodeOutput(counter, { count: "x" })).toEqual({ ok: false, error: `output.count: Expected number, got "x"` })
    expect(decodeOutput(counter, { count: "x" })).toEqual({ ok: false, error: `output.count: Expected number, got "x"` })
    expect(decodeOutput(counter, {})).toEqual({ ok: false, error: "output.count: Missing key" })
  })

  it("a Date output round-trips", () => {
    expect(encodeOutput(dated, { later: new Date(1000) })).toEqual({ ok: true, value: { later: "1970-01-01T00:00:01.000Z" } })
    expect(decodeOutput(dated, { later: "1970-01-01T00:00:01.000Z" })).toEqual({ ok: true, value: { later: new Date(1000) } })
  })

  it("refuses outputs that are not JSON: a bigint, a function (also nested), a class instance, a cycle", () => {
    expect(encodeOutput(anything, 5n)).toEqual({ ok: false, error: "output: is a bigint, which JSON cannot hold" })
    expect(encodeOutput(anything, () => 1)).toEqual({ ok: false, error: "output: is a function, which JSON cannot hold" })
    expect(encodeOutput(anything, { f: () => 1 })).toEqual({ ok: false, error: "output.f: is a function, which JSON cannot hold" })
    expect(encodeOutput(anything, { at: new Date(0) })).toEqual({ ok: false, error: "output.at: is a Date, not plain JSON data" })
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(encodeOutput(anything, cycle).ok).toBe(false)
  })

  // Found as a bug: NaN and Infinity used to become null on the wire ({ ok: true, value: null }), so the
  // worker reported a valid null result that the producer's decodeOutput then refused.
  it("refuses a non-finite number output instead of sending null", () => {
    expect(encodeOutput(numeric, NaN)).toEqual({ ok: false, error: "output: is NaN, which JSON cannot hold" })
    expect(encodeOutput(numeric, -Infinity)).toEqual({ ok: false, error: "output: is -Infinity, which JSON cannot hold" })
    expect(encodeOutput(numeric, 2.5)).toEqual({ ok: true, value: 2.5 })
  })
})

describe("tasksOf: the tasks a module exports", () => {
  const upper = defineTask({ name: "upper", input: Schema.String, output: Schema.String, handler: (s) => s.toUpperCase() })
  const lower = defineTask({ name: "lower", input: Schema.String, output: Schema.String, handler: (s) => s.toLowerCase() })
  const error = (module: Record<string, unknown>): TaskModuleError => {
    try {
      tasksOf(module, "tasks.ts")
    } catch (e) {
      expect(e).toBeInstanceOf(TaskModuleError)
      return e as TaskModuleError
    }
    throw new Error("tasksOf accepted the module")
  }

  it("an array export of definitions", () => {
    const tasks = tasksOf({ tasks: [upper, lower] })
    expect([...tasks.keys()]).toEqual(["upper", "lower"])
    expect(tasks.get("upper")?.definition).toBe(upper)
    expect(typeof tasks.get("upper")?.handler).toBe("function")
  })

  it("a record export with plain functions and { handler } objects, named by their keys", () => {
    const fn = (x: unknown) => x
    const tasks = tasksOf({ tasks: { echo: fn, "echo-2": { handler: fn }, upper } })
    expect([...tasks.keys()]).toEqual(["echo", "echo-2", "upper"])
    expect(tasks.get("echo")).toEqual({ name: "echo", handler: fn })
    expect(tasks.get("echo-2")?.handler).toBe(fn)
    expect(tasks.get("upper")?.definition).toBe(upper)
  })

  it("a default export, or else every exported definition (and nothing else)", () => {
    expect([...tasksOf({ default: [lower] }).keys()]).toEqual(["lower"])
    expect([...tasksOf({ default: { upper } }).keys()]).toEqual(["upper"])
    expect([...tasksOf({ upper, helper: () => 1, LIMIT: 5, lower }).keys()]).toEqual(["upper", "lower"])
  })

  it("refuses duplicate names, a key that is not the definition's name, and bad names", () => {
    expect(error({ tasks: [upper, upper] }).message).toBe("--tasks: tasks.ts defines task upper twice")
    expect(error({ tasks: { shout: upper } }).message).toBe("--tasks: tasks.ts exports task upper under the key shout; use its name")
    expect(error({ tasks: { "bad name": () => 1 } }).message).toBe(`--tasks: task name "bad name" must be 1-64 letters, digits, '_' or '-'`)
  })

  it("refuses modules without tasks, untyped array entries and entries without a handler", () => {
    expect(error({}).message).toBe("--tasks: tasks.ts exports no tasks (export `tasks`: an array of defineTask(...) definitions)")
    expect(error({ tasks: [] }).message).toBe("--tasks: tasks.ts exports no tasks (export `tasks`: an array of defineTask(...) definitions)")
    expect(error({ tasks: [() => 1] }).message).toBe("--tasks: an entry in tasks.ts is not a task definition (use defineTask)")
    expect(error({ tasks: { five: 5 } }).message).toBe("--tasks: task five in tasks.ts has no handler function")
    expect(error({}).name).toBe("TaskModuleError")
  })

  // Found as a bug: a single definition was taken for a record of tasks, and the error named a task
  // "_tag": `--tasks: task _tag in tasks.ts has no handler function`.
  it("a single definition as the default export, or as tasks, is one task", () => {
    expect([...tasksOf({ default: upper }, "tasks.ts").keys()]).toEqual(["upper"])
    expect(tasksOf({ tasks: lower }, "tasks.ts").get("lower")?.definition).toBe(lower)
  })
})

describe("definitionHandler: running a defined task on a worker", () => {
  const context: TaskContext = { signal: new AbortController().signal, progress: () => {}, jobId: "j", index: 3, attempt: 2 }
  const failure = async (def: AnyTaskDefinition, wire: unknown): Promise<TaskError> => {
    try {
      await definitionHandler(def)(wire, context)
    } catch (error) {
      expect(error).toBeInstanceOf(TaskError)
      return error as TaskError
    }
    throw new Error("the handler succeeded")
  }

  it("decodes the wire input, runs the handler and returns the wire form of its output", async () => {
    expect(await definitionHandler(counter)({ n: 41 }, context)).toEqual({ count: 42 })
    expect(await definitionHandler(dated)({ when: "1970-01-01T00:00:00.000Z" }, context)).toEqual({ later: "1970-01-01T00:00:01.000Z" })
  })

  it("passes the context to the handler", async () => {
    const seen = defineTask({ name: "seen", input: Schema.Null, output: Schema.String, handler: (_, c) => `${c.jobId}/${c.index}.${c.attempt}` })
    expect(await definitionHandler(seen)(null, context)).toBe("j/3.2")
  })

  it("a bad input is a TaskError that is not retryable", async () => {
    const error = await failure(counter, { n: "x" })
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(`task count: input.n: Expected number, got "x"`)
  })

  it("an output that breaks its Schema is a TaskError that is not retryable", async () => {
    const liar = defineTask({ name: "liar", input: Schema.Number, output: Schema.Struct({ count: Schema.Number }), handler: () => ({ count: "many" }) as never })
    const error = await failure(liar, 1)
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(`task liar returned a bad result: output.count: Expected number, got "many"`)
    const bigint = await failure(defineTask({ name: "big", input: Schema.Number, output: Schema.Unknown, handler: () => 1n }), 1)
    expect(bigint.message).toBe("task big returned a bad result: output: is a bigint, which JSON cannot hold")
  })

  it("a TaskError thrown by the handler passes through unchanged", async () => {
    const thrower = defineTask({
      name: "thrower",
      input: Schema.Number,
      output: Schema.Number,
      handler: () => {
        throw new TaskError("try again", { retryable: true })
      }
    })
    const error = await failure(thrower, 1)
    expect(error.message).toBe("try again")
    expect(error.retryable).toBe(true)
  })
})

describe("names and results the built-in kinds or JSON would trip over", () => {
  it("reserves the built-in kinds' names", () => {
    for (const name of ["sum", "sumsq", "train", "infer", "task"]) {
      expect(thrown(() => defineTask({ name, input: Schema.Unknown, output: Schema.Unknown, handler: (x) => x }))).toBe(
        `task name ${JSON.stringify(name)} is reserved for a built-in job kind`
      )
      expect(thrown(() => tasksOf({ tasks: { [name]: () => 1 } }, "m.ts"))).toBe(`--tasks: task name ${JSON.stringify(name)} is reserved for a built-in job kind`)
    }
  })

  it("loads `export default { tasks: [...] }`", () => {
    expect([...tasksOf({ default: { tasks: [counter, dated] } }).keys()]).toEqual(["count", "dated"])
  })

  it("a task that returns nothing returns null, and its caller gets nothing back", () => {
    const nothing = defineTask({ name: "nothing", input: Schema.Unknown, output: Schema.Void, handler: () => undefined })
    expect(encodeOutput(nothing, undefined)).toEqual({ ok: true, value: null })
    expect(decodeOutput(nothing, null)).toEqual({ ok: true, value: undefined })
  })
})
