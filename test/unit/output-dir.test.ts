import { describe, expect, it } from "vitest"
import { jobOutputDir, plotOutputDir } from "../../src/cli/output-dir.ts"

describe("output folders", () => {
  it("puts a job's files in ./dtq-output/<job>/ unless --out names a folder", () => {
    expect(jobOutputDir(undefined, "j-abc")).toBe("dtq-output/j-abc")
    expect(jobOutputDir("results", "j-abc")).toBe("results")
  })
  it("puts plots of every job in ./dtq-output/plot/, of one job in its folder", () => {
    expect(plotOutputDir(undefined, undefined)).toBe("dtq-output/plot")
    expect(plotOutputDir(undefined, "j-abc")).toBe("dtq-output/j-abc")
    expect(plotOutputDir("out", "j-abc")).toBe("out")
  })
})
