import { describe, expect, it } from "vitest"
import { boolFlag, COMMON_FLAGS, intFlag, parseArgs, rateFlag, stringFlag, UsageError, type FlagSpec } from "../../src/cli/args.ts"

const SPEC: FlagSpec = { tasks: "string", wait: "boolean", json: "boolean", rate: "string", slots: "string" }

const usageError = (f: () => unknown): UsageError => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    expect(error).toBeInstanceOf(Error)
    return error as UsageError
  }
  throw new Error("expected a UsageError")
}

describe("parseArgs", () => {
  it("positionals and flags in any order", () => {
    expect(parseArgs("sum", ["1", "--tasks", "10", "100", "--wait"], SPEC)).toEqual({ positional: ["1", "100"], flags: { tasks: "10", wait: true } })
  })

  it("--x=value form", () => {
    expect(parseArgs("sum", ["--tasks=10", "--nats=nats://h:4222", "1", "2"], SPEC)).toEqual({
      positional: ["1", "2"],
      flags: { tasks: "10", nats: "nats://h:4222" }
    })
    // Everything after the first = is the value, which may be empty or contain more =.
    expect(parseArgs("sum", ["--tasks=a=b"], SPEC).flags).toEqual({ tasks: "a=b" })
    expect(parseArgs("sum", ["--tasks="], SPEC).flags).toEqual({ tasks: "" })
  })

  it("negative numbers are positionals", () => {
    expect(parseArgs("sum", ["-5", "5"], SPEC)).toEqual({ positional: ["-5", "5"], flags: {} })
    expect(parseArgs("sum", ["-1000", "-1", "--tasks", "3"], SPEC)).toEqual({ positional: ["-1000", "-1"], flags: { tasks: "3" } })
    // Also as the value of a string flag.
    expect(parseArgs("sum", ["--tasks", "-5"], SPEC).flags).toEqual({ tasks: "-5" })
    // A single dash is never a flag.
    expect(parseArgs("x", ["-v", "-"], SPEC).positional).toEqual(["-v", "-"])
  })

  it("-- ends the flags", () => {
    expect(parseArgs("sum", ["--wait", "--", "--tasks", "-x", "--bogus"], SPEC)).toEqual({
      positional: ["--tasks", "-x", "--bogus"],
      flags: { wait: true }
    })
  })

  it("an unknown flag is a UsageError naming it", () => {
    const error = usageError(() => parseArgs("sum", ["1", "2", "--bogus"], SPEC))
    expect(error.message).toContain("--bogus")
    expect(error.message).toContain("sum")
    expect(usageError(() => parseArgs("jobs", ["--colour=red"], {})).message).toContain("--colour")
    expect(usageError(() => parseArgs("jobs", ["--tasks", "3"], {})).message).toBe("unknown option --tasks for dtq jobs (see dtq jobs --help)")
    expect(parseArgs("jobs", ["--"], {})).toEqual({ positional: [], flags: {} })
  })

  it("common flags are accepted by every command", () => {
    expect(COMMON_FLAGS).toEqual({
      nats: "string",
      help: "boolean",
      user: "string",
      password: "string",
      token: "string",
      nkey: "string",
      creds: "string",
      "tls-ca": "string",
      "tls-cert": "string",
      "tls-key": "string"
    })
    expect(parseArgs("jobs", ["--help", "--nats", "nats://x"], {})).toEqual({ positional: [], flags: { help: true, nats: "nats://x" } })
  })

  it("a boolean flag takes no value; a string flag needs one", () => {
    expect(usageError(() => parseArgs("sum", ["--wait=yes"], SPEC)).message).toBe("--wait takes no value")
    expect(usageError(() => parseArgs("sum", ["--tasks"], SPEC)).message).toBe("--tasks needs a value")
    expect(usageError(() => parseArgs("sum", ["--tasks", "--wait"], SPEC)).message).toBe("--tasks needs a value")
    // With = the value is taken literally, even if it looks like a flag.
    expect(parseArgs("sum", ["--tasks=--wait"], SPEC).flags).toEqual({ tasks: "--wait" })
  })

  it("a repeated flag: the last one wins", () => {
    expect(parseArgs("sum", ["--tasks", "1", "--tasks=2"], SPEC).flags).toEqual({ tasks: "2" })
  })

  it("stringFlag and boolFlag", () => {
    const p = parseArgs("sum", ["--tasks", "7", "--wait"], SPEC)
    expect(stringFlag(p, "tasks")).toBe("7")
    expect(stringFlag(p, "wait")).toBeUndefined()
    expect(stringFlag(p, "rate")).toBeUndefined()
    expect(boolFlag(p, "wait")).toBe(true)
    expect(boolFlag(p, "json")).toBe(false)
    expect(boolFlag(p, "tasks")).toBe(false)
  })
})

describe("intFlag", () => {
  const parsed = (value: string) => parseArgs("sum", ["--tasks", value], SPEC)

  it("absent -> undefined; whole numbers within bounds", () => {
    expect(intFlag(parseArgs("sum", [], SPEC), "tasks", 1, 100)).toBeUndefined()
    expect(intFlag(parsed("10"), "tasks", 1, 100)).toBe(10)
    expect(intFlag(parsed("1"), "tasks", 1, 100)).toBe(1)
    expect(intFlag(parsed("100"), "tasks", 1, 100)).toBe(100)
    expect(intFlag(parsed("007"), "tasks", 1, 100)).toBe(7)
    expect(intFlag(parsed(" 5 "), "tasks", 1, 100)).toBe(5)
  })

  it("refuses non-whole numbers and out-of-range values, naming the flag", () => {
    for (const bad of ["1.5", "-1", "abc", "", "1e3", "+5", "0x10"]) {
      const error = usageError(() => intFlag(parsed(bad), "tasks", 0, 100))
      expect(error.message).toBe(`--tasks must be a whole number, not ${JSON.stringify(bad)}`)
    }
    expect(usageError(() => intFlag(parsed("0"), "tasks", 1, 100)).message).toBe("--tasks must be between 1 and 100, not 0")
    expect(usageError(() => intFlag(parsed("101"), "tasks", 1, 100)).message).toBe("--tasks must be between 1 and 100, not 101")
  })
})

describe("rateFlag", () => {
  const parsed = (value: string) => parseArgs("worker", ["--rate", value], SPEC)

  it("absent -> 0; probabilities in [0, 1]", () => {
    expect(rateFlag(parseArgs("worker", [], SPEC), "rate")).toBe(0)
    expect(rateFlag(parsed("0"), "rate")).toBe(0)
    expect(rateFlag(parsed("0.25"), "rate")).toBe(0.25)
    expect(rateFlag(parsed(".5"), "rate")).toBe(0.5)
    expect(rateFlag(parsed("1"), "rate")).toBe(1)
  })

  it("refuses a bad rate such as 2", () => {
    for (const bad of ["2", "-0.1", "1.0001", "abc", "", "  ", "NaN", "Infinity", "50%"]) {
      const error = usageError(() => rateFlag(parsed(bad), "rate"))
      expect(error.message).toBe(`--rate must be a probability between 0 and 1, not ${JSON.stringify(bad)}`)
    }
  })
})
