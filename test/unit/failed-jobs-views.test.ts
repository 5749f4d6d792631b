import { describe, expect, it } from "vitest"
import type { DtqEvent } from "../../src/domain/events.ts"
import { ErrorTally } from "../../src/projections/errors-view.ts"
import { jobFilterFrom, matchesJob } from "../../src/projections/job-filter.ts"
import type { JobView } from "../../src/projections/views.ts"
import { parseSince } from "../../src/cli/failed-jobs-commands.ts"

const job = (over: Partial<JobView>): JobView => ({ jobId: "j1", kind: "task", task: "resize", name: "Nightly report", state: "failed", submittedAt: 1000, ...over }) as JobView

const failed = (ts: number, workerId: string, failures: Array<{ jobId: string; index: number; attempt: number; error: string; retryable: boolean }>) =>
  ({ type: "TaskFailed", id: `e${ts}`, v: 1, ts, writer: { role: "worker", id: workerId }, workerId, failures }) as unknown as Extract<DtqEvent, { type: "TaskFailed" }>

describe("job filter", () => {
  it("matches state, kind or task name, name text (any case) and submission time", () => {
    expect(matchesJob(job({}), { state: "failed", kind: "resize", name: "NIGHTLY", since: 1000 })).toBe(true)
    expect(matchesJob(job({}), { kind: "task" })).toBe(true)
    expect(matchesJob(job({}), { state: "completed" })).toBe(false)
    expect(matchesJob(job({}), { since: 1001 })).toBe(false)
    expect(matchesJob(job({ name: undefined }), { name: "x" })).toBe(false)
  })
  it("keeps only well-formed fields of a request body", () => {
    expect(jobFilterFrom({ state: "failed", kind: 3, since: "x", name: "a" })).toEqual({ state: "failed", name: "a" })
    expect(jobFilterFrom({ state: "broken" })).toEqual({})
  })
  it("reads --since as an age or a time", () => {
    expect(parseSince("2h", 10_000_000)).toBe(10_000_000 - 7_200_000)
    expect(parseSince("2026-01-01T00:00:00Z", 0)).toBe(Date.parse("2026-01-01T00:00:00Z"))
    expect(() => parseSince("yesterday", 0)).toThrow("--since must be an ISO time, ms since the epoch or an age like 30m, 2h, 7d, not \"yesterday\"")
  })
})

describe("errors view", () => {
  it("groups errors by text and kind, counts them, lists the attempts, most frequent first", () => {
    const tally = new ErrorTally()
    tally.add(failed(1, "w1", [{ jobId: "j1", index: 0, attempt: 1, error: "disk full", retryable: true }, { jobId: "j1", index: 1, attempt: 1, error: "bad input", retryable: false }]))
    tally.add(failed(2, "w2", [{ jobId: "j2", index: 0, attempt: 2, error: "disk full", retryable: true }]))
    tally.add(failed(3, "w2", [{ jobId: "j2", index: 3, attempt: 1, error: "disk full", retryable: false }]))
    const view = tally.view()
    expect(view.map((g) => [g.error, g.retryable, g.count, g.jobs])).toEqual([
      ["disk full", true, 2, ["j1", "j2"]],
      ["disk full", false, 1, ["j2"]],
      ["bad input", false, 1, ["j1"]]
    ])
    expect(view[0]!.attempts).toEqual([
      { jobId: "j1", index: 0, attempt: 1, workerId: "w1", at: 1 },
      { jobId: "j2", index: 0, attempt: 2, workerId: "w2", at: 2 }
    ])
    expect(new ErrorTally("j1").view()).toEqual([])
  })
  it("counts only the given job's errors", () => {
    const tally = new ErrorTally("j2")
    tally.add(failed(1, "w1", [{ jobId: "j1", index: 0, attempt: 1, error: "x", retryable: true }, { jobId: "j2", index: 0, attempt: 1, error: "y", retryable: true }]))
    expect(tally.view().map((g) => g.error)).toEqual(["y"])
  })
})
