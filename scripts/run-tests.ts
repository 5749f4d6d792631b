// The test command: typecheck, then vitest, then the closing line CI reads: `N passed, N failed, N skipped`.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = (name: string) => join(import.meta.dirname, "..", "node_modules", ".bin", name)

const typecheck = spawnSync(bin("tsc"), ["--noEmit", "-p", "."], { stdio: "inherit" })
if (typecheck.status !== 0) {
  process.stdout.write("typecheck failed\n0 passed, 1 failed\n")
  process.exit(1)
}

const dir = mkdtempSync(join(tmpdir(), "dtq-vitest-"))
const report = join(dir, "report.json")
const run = spawnSync(bin("vitest"), ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  stdio: "inherit"
})
let passed = 0
let failed = 0
let skipped = 0
try {
  const json = JSON.parse(readFileSync(report, "utf8")) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number }
  passed = json.numPassedTests
  failed = json.numFailedTests
  skipped = json.numPendingTests + json.numTodoTests
} catch {
  failed = Math.max(1, failed) // no report: the run itself broke
}
rmSync(dir, { recursive: true, force: true })
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`)
process.exit(run.status === 0 && failed === 0 ? 0 : 1)
