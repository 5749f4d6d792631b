import { describe, expect, it } from "vitest"
import { BadSpec } from "../../src/domain/errors.ts"
import {
  DEFAULT_AGING_MS,
  DEFAULT_POLICY,
  DEFAULT_SUM_TASKS,
  MAX_TASKS_PER_JOB,
  resolveSpec,
  rangeInput,
  type ResolvedSumSpec
} from "../../src/domain/job-spec.ts"
import { rangeSum } from "../../src/domain/range-sum.ts"

/** Runs resolveSpec, expecting a BadSpec; returns it. */
const refusal = (input: unknown): BadSpec => {
  try {
    resolveSpec(input)
  } catch (error) {
    expect(error).toBeInstanceOf(BadSpec)
    return error as BadSpec
  }
  throw new Error(`resolveSpec accepted ${JSON.stringify(input)}`)
}

const expectRefused = (input: unknown, field: string, messagePart?: string | RegExp): BadSpec => {
  const error = refusal(input)
  expect(error._tag).toBe("BadSpec")
  expect(error.field).toBe(field)
  const text = error.toString()
  if (field !== "") {
    expect(text).toContain(field)
    expect(text.startsWith(`${field}: `)).toBe(true)
    expect(text).toBe(`${field}: ${error.message}`)
  }
  if (messagePart !== undefined) {
    if (typeof messagePart === "string") expect(text).toContain(messagePart)
    else expect(text).toMatch(messagePart)
  }
  return error
}

const base = { kind: "sum", from: "1", to: "1000" } as const

describe("resolveSpec: defaults and canonical form", () => {
  it("fills every default", () => {
    expect(resolveSpec(base)).toEqual({
      kind: "sum",
      from: "1",
      to: "1000",
      tasks: DEFAULT_SUM_TASKS,
      priority: 0,
      agingMs: DEFAULT_AGING_MS,
      ...DEFAULT_POLICY
    })
    expect(DEFAULT_SUM_TASKS).toBe(100)
    expect(DEFAULT_POLICY).toEqual({
      maxAttempts: 3,
      backoffMs: 200,
      backoffMaxMs: 30_000,
      leaseMs: 10_000,
      stallMs: 60_000,
      maxTaskMs: 3_600_000,
      speculation: true,
      speculationQuantile: 0.75,
      speculationMultiplier: 1.5,
      speculationMinMs: 100,
      maxSpeculative: 16,
      placement: "least-loaded"
    })
  })

  it("has no name key unless a name is given", () => {
    expect(Object.hasOwn(resolveSpec(base), "name")).toBe(false)
    expect(resolveSpec({ ...base, name: "nightly" }).name).toBe("nightly")
  })

  it("keeps explicit policy fields and fills the others", () => {
    const spec = resolveSpec({ kind: "sumsq", from: "-5", to: "5", tasks: 3, maxAttempts: 7, backoffMs: 10, backoffMaxMs: 10, leaseMs: 500 })
    expect(spec).toEqual({
      kind: "sumsq",
      from: "-5",
      to: "5",
      tasks: 3,
      priority: 0,
      agingMs: DEFAULT_AGING_MS,
      maxAttempts: 7,
      backoffMs: 10,
      backoffMaxMs: 10,
      leaseMs: 500,
      stallMs: DEFAULT_POLICY.stallMs,
      maxTaskMs: DEFAULT_POLICY.maxTaskMs,
      speculation: DEFAULT_POLICY.speculation,
      speculationQuantile: DEFAULT_POLICY.speculationQuantile,
      speculationMultiplier: DEFAULT_POLICY.speculationMultiplier,
      speculationMinMs: DEFAULT_POLICY.speculationMinMs,
      maxSpeculative: DEFAULT_POLICY.maxSpeculative,
      placement: DEFAULT_POLICY.placement
    })
  })

  it("keeps explicit speculation and placement fields", () => {
    const spec = resolveSpec({
      ...base,
      speculation: false,
      speculationQuantile: 0.5,
      speculationMultiplier: 3,
      speculationMinMs: 0,
      maxSpeculative: 0,
      placement: "round-robin"
    })
    expect(spec).toMatchObject({
      speculation: false,
      speculationQuantile: 0.5,
      speculationMultiplier: 3,
      speculationMinMs: 0,
      maxSpeculative: 0,
      placement: "round-robin",
      // the others still default
      maxAttempts: DEFAULT_POLICY.maxAttempts,
      leaseMs: DEFAULT_POLICY.leaseMs
    })
    for (const placement of ["least-loaded", "random", "round-robin"] as const) {
      expect(resolveSpec({ ...base, placement }).placement).toBe(placement)
    }
    // The bounds are accepted.
    expect(resolveSpec({ ...base, speculationQuantile: 0, speculationMultiplier: 1 })).toMatchObject({ speculationQuantile: 0, speculationMultiplier: 1 })
    expect(resolveSpec({ ...base, speculationQuantile: 1, speculationMultiplier: 100 })).toMatchObject({ speculationQuantile: 1, speculationMultiplier: 100 })
    // Resolving again changes nothing (a replay does not depend on the defaults).
    expect(resolveSpec(spec)).toEqual(spec)
  })

  it("writes integers canonically", () => {
    const spec = resolveSpec({ kind: "sum", from: "+007", to: " 0012 " }) as ResolvedSumSpec
    expect(spec.from).toBe("7")
    expect(spec.to).toBe("12")
    expect(resolveSpec({ kind: "sum", from: "-0", to: "+0" })).toMatchObject({ from: "0", to: "0", tasks: 1 })
    expect(resolveSpec({ kind: "sum", from: "-0010", to: "-0003" })).toMatchObject({ from: "-10", to: "-3" })
    const big = "123456789012345678901234567890"
    expect(resolveSpec({ kind: "sum", from: `+000${big}`, to: `${big}0` })).toMatchObject({ from: big, to: `${big}0`, tasks: 100 })
  })

  it("clamps the task count to the length of the range", () => {
    expect(resolveSpec({ kind: "sum", from: "1", to: "5" }).tasks).toBe(5)
    expect(resolveSpec({ kind: "sum", from: "1", to: "5", tasks: 50 }).tasks).toBe(5)
    expect(resolveSpec({ kind: "sum", from: "7", to: "7" }).tasks).toBe(1)
    expect(resolveSpec({ kind: "sum", from: "-3", to: "3", tasks: 1000 }).tasks).toBe(7)
    expect(resolveSpec({ kind: "sum", from: "1", to: "100" }).tasks).toBe(100)
    expect(resolveSpec({ kind: "sum", from: "1", to: "101" }).tasks).toBe(100)
    expect(resolveSpec({ kind: "sum", from: "1", to: "10", tasks: 3 }).tasks).toBe(3)
    expect(resolveSpec({ kind: "sum", from: "1", to: String(10n ** 30n), tasks: MAX_TASKS_PER_JOB }).tasks).toBe(MAX_TASKS_PER_JOB)
  })

  it("accepts the task bounds 1 and MAX_TASKS_PER_JOB", () => {
    expect(resolveSpec({ ...base, tasks: 1 }).tasks).toBe(1)
    expect(resolveSpec({ kind: "sum", from: "1", to: "2000000", tasks: 1_000_000 }).tasks).toBe(1_000_000)
  })

  it("resolving a resolved spec changes nothing", () => {
    const once = resolveSpec({ kind: "sumsq", from: "+3", to: "400", tasks: 9, name: "x", backoffMs: 50 })
    expect(resolveSpec(once)).toEqual(once)
  })

  it("taskInput covers the resolved range chunk by chunk", () => {
    const spec = resolveSpec({ kind: "sumsq", from: "-10", to: "20", tasks: 4 }) as ResolvedSumSpec
    const inputs = Array.from({ length: spec.tasks }, (_, i) => rangeInput(spec, i))
    expect(inputs).toEqual([
      { op: "sumsq", from: "-10", to: "-3" },
      { op: "sumsq", from: "-2", to: "5" },
      { op: "sumsq", from: "6", to: "13" },
      { op: "sumsq", from: "14", to: "20" }
    ])
    const total = inputs.reduce((acc, t) => acc + rangeSum(t.op, BigInt(t.from), BigInt(t.to)), 0n)
    expect(total).toBe(rangeSum("sumsq", -10n, 20n))
  })
})

describe("resolveSpec: refusals name the field", () => {
  it("missing kind", () => {
    expectRefused({ from: "1", to: "2" }, "kind", "missing")
  })

  it("unknown kind", () => {
    expectRefused({ kind: "product", from: "1", to: "2" }, "kind", '"product"')
    expectRefused({ kind: 5, from: "1", to: "2" }, "kind")
  })

  it("from > to", () => {
    expectRefused({ kind: "sum", from: "10", to: "1" }, "from", "empty")
    expectRefused({ kind: "sumsq", from: "0", to: "-1" }, "from")
  })

  it("non-integer from", () => {
    expectRefused({ kind: "sum", from: "1.5", to: "10" }, "from", '"1.5"')
    expectRefused({ kind: "sum", from: "1e3", to: "10000" }, "from")
    expectRefused({ kind: "sum", from: "", to: "10" }, "from")
    expectRefused({ kind: "sum", from: "abc", to: "10" }, "from")
    expectRefused({ kind: "sum", from: 5, to: "10" }, "from")
  })

  it("non-integer to", () => {
    expectRefused({ kind: "sum", from: "1", to: "ten" }, "to", '"ten"')
  })

  it("missing from or to", () => {
    expectRefused({ kind: "sum", from: "1" }, "to", "missing")
    expectRefused({ kind: "sum", to: "1" }, "from", "missing")
  })

  it("tasks 0", () => {
    expectRefused({ ...base, tasks: 0 }, "tasks")
  })

  it("tasks 1.5", () => {
    expectRefused({ ...base, tasks: 1.5 }, "tasks")
  })

  it("tasks above 1_000_000", () => {
    expectRefused({ ...base, tasks: MAX_TASKS_PER_JOB + 1 }, "tasks")
  })

  it("tasks of the wrong type", () => {
    expectRefused({ ...base, tasks: "3" }, "tasks")
    expectRefused({ ...base, tasks: -1 }, "tasks")
  })

  it("an unknown extra key names that key", () => {
    const error = expectRefused({ ...base, colour: "blue" }, "colour")
    expect(error.toString()).toContain("colour")
  })

  it("bad policy fields", () => {
    expectRefused({ ...base, maxAttempts: 0 }, "maxAttempts")
    expectRefused({ ...base, maxAttempts: 101 }, "maxAttempts")
    expectRefused({ ...base, leaseMs: 99 }, "leaseMs")
    expectRefused({ ...base, backoffMs: -1 }, "backoffMs")
    expectRefused({ ...base, name: "x".repeat(201) }, "name")
  })

  it("bad speculation and placement fields", () => {
    expectRefused({ ...base, speculation: "yes" }, "speculation")
    expectRefused({ ...base, speculationQuantile: -0.1 }, "speculationQuantile")
    expectRefused({ ...base, speculationQuantile: 1.01 }, "speculationQuantile")
    expectRefused({ ...base, speculationMultiplier: 0.5 }, "speculationMultiplier")
    expectRefused({ ...base, speculationMultiplier: 101 }, "speculationMultiplier")
    expectRefused({ ...base, speculationMinMs: -1 }, "speculationMinMs")
    expectRefused({ ...base, speculationMinMs: 1.5 }, "speculationMinMs")
    expectRefused({ ...base, maxSpeculative: -1 }, "maxSpeculative")
    expectRefused({ ...base, maxSpeculative: 10_001 }, "maxSpeculative")
    expectRefused({ ...base, placement: "fastest" }, "placement")
    expectRefused({ ...base, placement: 1 }, "placement")
    expectRefused({ ...base, stallMs: 99 }, "stallMs")
    expectRefused({ ...base, maxTaskMs: 99 }, "maxTaskMs")
  })

  it("backoffMaxMs below backoffMs", () => {
    expectRefused({ ...base, backoffMs: 500, backoffMaxMs: 100 }, "backoffMaxMs", "500")
    // The default backoffMaxMs (30 s) counts too.
    expectRefused({ ...base, backoffMs: 40_000 }, "backoffMaxMs", "40000")
    expect(resolveSpec({ ...base, backoffMs: 500, backoffMaxMs: 500 })).toMatchObject({ backoffMs: 500, backoffMaxMs: 500 })
  })

  it("a non-object input", () => {
    for (const input of [null, undefined, 5, "sum 1 10", [], [{ kind: "sum" }], true]) {
      const error = expectRefused(input, "")
      expect(error.toString()).toBe(error.message)
      expect(error.toString()).toContain("JSON object")
    }
  })
})
