// resolveSpec for jobs of user-defined tasks (kind "task"): names, inputs, priorities, delays.
import { describe, expect, it } from "vitest"
import { BadSpec } from "../../src/domain/errors.ts"
import {
  DEFAULT_AGING_MS,
  DEFAULT_POLICY,
  MAX_INPUT_BYTES,
  MAX_TASKS_PER_JOB,
  resolveSpec,
  taskInput,
  taskKind,
  type ResolvedTaskSpec
} from "../../src/domain/job-spec.ts"

const NOW = 1_700_000_000_000

/** resolveSpec expecting a BadSpec: returns `field: message`. */
const refused = (input: unknown, now = NOW): string => {
  try {
    resolveSpec(input, now)
  } catch (error) {
    expect(error).toBeInstanceOf(BadSpec)
    return String(error)
  }
  throw new Error("resolveSpec accepted the spec")
}
const fieldOf = (input: unknown): string => {
  try {
    resolveSpec(input, NOW)
  } catch (error) {
    return (error as BadSpec).field
  }
  throw new Error("resolveSpec accepted the spec")
}

const base = { kind: "task", task: "upper", inputs: ["a", "b"] } as const
const resolveTask = (extra: Record<string, unknown> = {}, now = NOW): ResolvedTaskSpec => resolveSpec({ ...base, ...extra }, now) as ResolvedTaskSpec

describe("resolveSpec, kind task: the resolved form", () => {
  it("fills every default and counts one task per input", () => {
    expect(resolveSpec({ kind: "task", task: "upper", inputs: [1, "a", { b: [2] }] }, NOW)).toEqual({
      kind: "task",
      task: "upper",
      inputs: [1, "a", { b: [2] }],
      tasks: 3,
      priority: 0,
      agingMs: DEFAULT_AGING_MS,
      ...DEFAULT_POLICY
    })
  })

  it("keeps a name and policy overrides", () => {
    expect(resolveTask({ name: "shout", maxAttempts: 5, placement: "round-robin" })).toMatchObject({ name: "shout", maxAttempts: 5, placement: "round-robin", tasks: 2 })
  })

  it("a resolved spec resolves to itself, even at another time", () => {
    const once = resolveTask({ delayMs: 5_000, priority: "high", agingMs: 250, name: "x", tasks: 2 })
    expect(once).toMatchObject({ runAt: NOW + 5_000, priority: 1, agingMs: 250 })
    expect(resolveSpec(once, NOW + 99_999)).toEqual(once)
  })

  it("taskInput is the input at the index and taskKind is the task name", () => {
    const spec = resolveSpec({ kind: "task", task: "word-count", inputs: [{ text: "x" }, 7, null] }, NOW)
    expect([0, 1, 2].map((i) => taskInput(spec, i))).toEqual([{ text: "x" }, 7, null])
    expect(taskKind(spec)).toBe("word-count")
    expect(taskKind(resolveSpec({ kind: "sumsq", from: "1", to: "9" }))).toBe("sumsq")
  })
})

describe("resolveSpec, kind task: the task name", () => {
  it("accepts letters, digits, '_' and '-', 1 to 64 of them", () => {
    expect(resolveTask({ task: "a-B_9" }).task).toBe("a-B_9")
    expect(resolveTask({ task: "x".repeat(64) }).task).toBe("x".repeat(64))
  })

  it("refuses anything else, naming the field", () => {
    expect(refused({ ...base, task: "bad name" })).toBe(`task: Expected a task name of 1-64 letters, digits, '_' or '-', got "bad name"`)
    expect(refused({ ...base, task: "" })).toBe(`task: Expected a task name of 1-64 letters, digits, '_' or '-', got ""`)
    expect(fieldOf({ ...base, task: "x".repeat(65) })).toBe("task")
    expect(fieldOf({ ...base, task: "a.b" })).toBe("task")
    expect(refused({ kind: "task", inputs: [1] })).toBe("task: Missing key")
  })
})

describe("resolveSpec, kind task: inputs", () => {
  it("refuses no inputs, a non-array and more than MAX_TASKS_PER_JOB inputs", () => {
    expect(refused({ ...base, inputs: [] })).toBe("inputs: Expected a value with a length of at least 1, got []")
    expect(refused({ ...base, inputs: "abc" })).toBe(`inputs: Expected array, got "abc"`)
    expect(refused({ ...base, inputs: new Array(MAX_TASKS_PER_JOB + 1).fill(0) })).toMatch(/^inputs: Expected a value with a length of at most 1000000, got \[0,0,/)
  })

  it("tasks, when given, must equal the number of inputs", () => {
    expect(resolveTask({ tasks: 2 }).tasks).toBe(2)
    expect(refused({ ...base, tasks: 3 })).toBe("tasks: is 3, but there are 2 inputs (one task per input)")
    expect(refused({ ...base, tasks: 1 })).toBe("tasks: is 1, but there are 2 inputs (one task per input)")
  })

  it("accepts exactly MAX_INPUT_BYTES of JSON and refuses one byte more", () => {
    expect(MAX_INPUT_BYTES).toBe(786_432)
    // ["xxx..."] is the string plus 4 bytes of JSON.
    expect(resolveTask({ inputs: ["x".repeat(MAX_INPUT_BYTES - 4)] }).tasks).toBe(1)
    expect(refused({ ...base, inputs: ["x".repeat(MAX_INPUT_BYTES - 3)] })).toBe(
      "inputs: 786433 bytes of JSON; a job carries at most 786432 in the log (put bulk data in the Object Store and pass its name)"
    )
  })

  it("measures inputs in UTF-8 bytes, not characters", () => {
    // 393,215 two-byte characters: 393,219 characters of JSON but 786,434 bytes.
    expect(refused({ ...base, inputs: ["é".repeat(393_215)] })).toMatch(/^inputs: 786434 bytes of JSON;/)
    expect(resolveTask({ inputs: ["é".repeat(393_214)] }).tasks).toBe(1)
  })

  it("refuses inputs that are not JSON, naming the element at fault", () => {
    expect(refused({ ...base, inputs: [1n] })).toBe("inputs[0]: is a bigint, which JSON cannot hold")
    // JSON.stringify would turn these into null (or drop them) without complaint.
    expect(refused({ ...base, inputs: ["ok", () => 1] })).toBe("inputs[1]: is a function, which JSON cannot hold")
    expect(refused({ ...base, inputs: [{ a: [1, NaN] }] })).toBe("inputs[0].a[1]: is NaN, which JSON cannot hold")
    expect(refused({ ...base, inputs: [Infinity] })).toBe("inputs[0]: is Infinity, which JSON cannot hold")
    expect(refused({ ...base, inputs: [new Date(0)] })).toBe("inputs[0]: is a Date, not plain JSON data")
    expect(fieldOf({ ...base, inputs: [undefined] })).toBe("inputs[0]")
  })

  it("accepts an object with an undefined key (JSON drops it, like an absent optional key)", () => {
    expect(resolveTask({ inputs: [{ a: 1, b: undefined }] }).tasks).toBe(1)
  })

  it("refuses a cycle in the inputs", () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(fieldOf({ ...base, inputs: [cycle] })).toMatch(/^inputs\[0\]/)
  })

  it("says a cycle is a cycle, in a short message", () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    const message = refused({ ...base, inputs: [cycle] })
    expect(message).toMatch(/circular|cycle/)
    expect(message.length).toBeLessThan(200)
  })
})

describe("resolveSpec, kind task: priority and aging", () => {
  it("maps low | normal | high to -1 | 0 | 1 and keeps integers in [-100, 100]", () => {
    expect(["low", "normal", "high"].map((priority) => resolveTask({ priority }).priority)).toEqual([-1, 0, 1])
    expect([-100, -7, 0, 100].map((priority) => resolveTask({ priority }).priority)).toEqual([-100, -7, 0, 100])
    expect(resolveTask().priority).toBe(0)
  })

  it("refuses other priorities", () => {
    expect(refused({ ...base, priority: 101 })).toBe("priority: Expected a value between -100 and 100, got 101")
    expect(refused({ ...base, priority: -101 })).toBe("priority: Expected a value between -100 and 100, got -101")
    expect(refused({ ...base, priority: 1.5 })).toBe("priority: Expected an integer, got 1.5")
    expect(refused({ ...base, priority: "urgent" })).toBe(`priority: Expected "low" | "normal" | "high", got "urgent"`)
  })

  it("agingMs defaults to 5000 and must be at least 1", () => {
    expect(resolveTask().agingMs).toBe(5000)
    expect(resolveTask({ agingMs: 1 }).agingMs).toBe(1)
    expect(refused({ ...base, agingMs: 0 })).toBe("agingMs: Expected a value between 1 and 86400000, got 0")
  })
})

describe("resolveSpec, kind task: runAt and delayMs", () => {
  it("keeps runAt as given", () => {
    expect(resolveTask({ runAt: 123 }).runAt).toBe(123)
    expect(resolveTask({ runAt: 0 }).runAt).toBe(0)
  })

  it("resolves delayMs to now + delayMs using the now argument; a zero delay means no runAt", () => {
    const delayed = resolveTask({ delayMs: 2_500 }, 10_000)
    expect(delayed.runAt).toBe(12_500)
    expect("delayMs" in delayed).toBe(false)
    expect("runAt" in resolveTask({ delayMs: 0 }, 10_000)).toBe(false)
    expect("runAt" in resolveTask()).toBe(false)
  })

  it("refuses runAt together with delayMs, and bad values", () => {
    expect(refused({ ...base, runAt: 5, delayMs: 5 })).toBe("delayMs: give runAt or delayMs, not both")
    expect(refused({ ...base, runAt: -1 })).toBe("runAt: Expected a value greater than or equal to 0, got -1")
    expect(refused({ ...base, delayMs: 366 * 86_400_000 + 1 })).toBe("delayMs: Expected a value between 0 and 31622400000, got 31622400001")
  })
})

describe("resolveSpec, kind task: unknown keys", () => {
  it("refuses an unknown key, naming it", () => {
    expect(refused({ ...base, bogus: 1 })).toBe("bogus: Expected no excess property, got 1")
    expect(refused({ ...base, from: "1" })).toBe(`from: Expected no excess property, got "1"`)
    expect(fieldOf({ ...base, delay: 100 })).toBe("delay")
  })
})

describe("resolveSpec, kind task: reserved names", () => {
  it("refuses a built-in kind's name as a task name", () => {
    expect(() => resolveSpec({ kind: "task", task: "sum", inputs: [1] })).toThrow('"sum" is reserved for a built-in job kind')
  })
})
