// The test command: typecheck, then vitest, then the closing line CI reads: `N passed, N failed, N skipped`.
// On failure, the failing tests (file, name, first lines of each message) are listed just before that
// line, from vitest's JSON report, so a failed CI run says why without scrolling back through the log.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"

const root = join(import.meta.dirname, "..")
const bin = (name: string) => join(root, "node_modules", ".bin", name)

const typecheck = spawnSync(bin("tsc"), ["--noEmit", "-p", "."], { stdio: "inherit" })
if (typecheck.status !== 0) {
  process.stdout.write("\nFailed:\n  the typecheck (tsc --noEmit -p .): see its errors above\n\n0 passed, 1 failed, 0 skipped\n")
  process.exit(1)
}

/** The parts of vitest's JSON report (Jest's format) read here. */
type Report = {
  numPassedTests: number
  numFailedTests: number
  numPendingTests: number
  numTodoTests: number
  testResults?: Array<{
    name: string
    status: string
    message?: string
    assertionResults?: Array<{ fullName?: string; title?: string; status: string; failureMessages?: string[] }>
  }>
}

/** Lines of a failure message worth showing: the message and its first stack frames in test code. */
const MESSAGE_LINES = 12
const strip = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, "")
const excerpt = (message: string): string => {
  // The message and the stack frames in dtq's own code (vitest's and Node's frames say nothing here).
  const lines = strip(message).split("\n").filter((l) => l.trim() !== "" && !(/^\s+at /.test(l) && (/node_modules|node:internal|<anonymous>/.test(l))))
  const shown = lines.slice(0, MESSAGE_LINES).map((l) => `      ${l}`)
  if (lines.length > MESSAGE_LINES) shown.push(`      ... (${lines.length - MESSAGE_LINES} more lines)`)
  return shown.join("\n")
}

/** The failing tests and files of a report, as text; empty when nothing failed. */
const failures = (report: Report): string => {
  const out: string[] = []
  for (const file of report.testResults ?? []) {
    const name = relative(root, file.name)
    const failed = (file.assertionResults ?? []).filter((a) => a.status === "failed")
    for (const test of failed) {
      out.push(`  FAIL ${name} > ${test.fullName ?? test.title ?? "(unnamed test)"}`)
      for (const message of test.failureMessages ?? []) out.push(excerpt(message))
    }
    // A file that failed outside its tests (an import, a beforeAll or afterAll hook): its message when the
    // report has one (vitest's JSON report leaves a hook's error out: it is in the output above).
    if (file.status === "failed" && failed.length === 0) {
      out.push(`  FAIL ${name} (the file itself, or a beforeAll/afterAll hook)`)
      out.push((file.message ?? "").trim() === "" ? "      (no message in the report: see this file in vitest's output above)" : excerpt(file.message as string))
    }
  }
  return out.join("\n")
}

const dir = mkdtempSync(join(tmpdir(), "dtq-vitest-"))
const reportPath = join(dir, "report.json")
const started = Date.now()
// vitest runs on this script's Node (24 under npm), whatever `node` its shebang would find first on PATH.
const run = spawnSync(process.execPath, [bin("vitest"), "run", "--reporter=default", "--reporter=json", `--outputFile.json=${reportPath}`, ...process.argv.slice(2)], {
  stdio: "inherit"
})
const seconds = Math.round((Date.now() - started) / 1000)
let passed = 0
let failed = 0
let skipped = 0
let why = ""
try {
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as Report
  passed = report.numPassedTests
  // A file that failed outside its tests (its tests then count as skipped) counts as one failure.
  const brokenFiles = (report.testResults ?? []).filter((f) => f.status === "failed" && !(f.assertionResults ?? []).some((a) => a.status === "failed")).length
  failed = report.numFailedTests + brokenFiles
  skipped = report.numPendingTests + report.numTodoTests
  why = failures(report)
} catch {
  why = `  vitest wrote no report (${reportPath}); it exited with ${run.status ?? run.signal}: see its output above`
  failed = Math.max(1, failed) // no report: the run itself broke
}
rmSync(dir, { recursive: true, force: true })
if (why !== "") process.stdout.write(`\nFailed:\n${why}\n`)
process.stdout.write(`\nvitest took ${seconds} s\n`)
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`)
process.exit(run.status === 0 && failed === 0 ? 0 : 1)
