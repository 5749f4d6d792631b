// The worker's test aid --clock-offset-ms (env DTQ_CLOCK_OFFSET_MS): a signed whole number, the flag first.
import { describe, expect, it } from "vitest"
import { clockOffsetOf } from "../../src/cli/roles.ts"

describe("--clock-offset-ms", () => {
  it("takes a signed whole number of ms from the flag, else the environment, else 0", () => {
    expect(clockOffsetOf(undefined, undefined)).toBe(0)
    expect(clockOffsetOf("-30000", undefined)).toBe(-30_000)
    expect(clockOffsetOf("+30000", "5")).toBe(30_000)
    expect(clockOffsetOf(undefined, " 1500 ")).toBe(1500)
    expect(clockOffsetOf(undefined, "")).toBe(0)
  })

  it("refuses anything else, naming where it came from", () => {
    expect(() => clockOffsetOf("30s", undefined)).toThrow(/--clock-offset-ms must be a whole number of milliseconds \(negative: behind\), not "30s"/)
    expect(() => clockOffsetOf(undefined, "1.5")).toThrow(/DTQ_CLOCK_OFFSET_MS must be a whole number/)
    expect(() => clockOffsetOf("-86400001", undefined)).toThrow(/--clock-offset-ms must be between -86400000 and 86400000, not -86400001/)
  })
})
