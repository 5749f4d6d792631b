import { describe, expect, it } from "vitest"
import type { DtqEvent } from "../../src/domain/events.ts"
import { activityView, applyActivity, emptyActivity, TEXT_KEPT, type ActivityState } from "../../src/projections/activity.ts"
import { applyEvent } from "../../src/projections/fold.ts"
import { emptyState } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"

/** Folds like the coordinator: the main fold first, the activity only for events it accepted. */
const fold = (events: ReadonlyArray<DtqEvent>, a: ActivityState = emptyActivity()): ActivityState => {
  const state = emptyState()
  events.forEach((event, i) => {
    const before = state.rejectedCount
    applyEvent(state, i + 1, event)
    if (state.rejectedCount === before) applyActivity(a, event)
  })
  expect(state.recentRejected).toEqual([]) // the scenarios are valid logs
  return a
}

const spec = F.sumSpec(1, 400, 4)
const ok = (index: number, attempt: number) => ({ jobId: "j1", index, attempt, result: F.answer(spec, index) })

/** Two workers, one job of 4 tasks: a completion, a failure and its retry, a reclaim with a late result, a speculative copy. */
const scenario = (): DtqEvent[] => [
  F.coordinatorElected(1, { ts: 900 }),
  F.workerJoined("w1", 2, { ts: 1000 }),
  F.workerJoined("w2", 1, { ts: 1000 }),
  F.jobSubmitted("j1", spec, { ts: 1000 }),
  F.tasksScheduled("j1", 4, { ts: 1001 }),
  F.taskLeased("w1", [{ jobId: "j1", index: 0, attempt: 1 }, { jobId: "j1", index: 1, attempt: 1 }], { ts: 1002 }),
  F.taskLeased("w2", [{ jobId: "j1", index: 2, attempt: 1 }], { ts: 1002 }),
  F.taskCompleted("w1", [ok(0, 1)], { ts: 1500 }),
  F.taskFailed("w1", [{ jobId: "j1", index: 1, attempt: 1, error: "boom", retryable: true }], { ts: 1600 }),
  F.retryScheduled("j1", 1, 1, 1900, { ts: 1601 }),
  F.taskLeased("w2", [{ jobId: "j1", index: 1, attempt: 2 }], { ts: 2000 }),
  F.taskReclaimed("j1", 2, 1, "lease expired", { ts: 2500 }, "w2"),
  F.taskLeased("w1", [{ jobId: "j1", index: 3, attempt: 1 }], { ts: 2600 }),
  F.taskLeased("w2", [{ jobId: "j1", index: 3, attempt: 2, speculative: true }], { ts: 2700 }),
  F.taskCompleted("w2", [ok(3, 2)], { ts: 3000 }),
  F.attemptAborted("w1", "j1", 3, 1, "another attempt finished first", { ts: 3001 }),
  F.taskCompleted("w2", [ok(2, 1)], { ts: 3100 }), // the reclaimed attempt's late result wins the task
  F.taskCompleted("w2", [ok(1, 2)], { ts: 3200 }),
  F.jobCompleted("j1", "done", { ts: 3300 }),
  F.workerLeft("w1", { ts: 4000 })
]

const attempt = (index: number, n: number, workerId: string, leasedAt: number, rest: Record<string, unknown>) => ({
  jobId: "j1", index, attempt: n, workerId, leasedAt, speculative: false, retry: n > 1, ...rest
})

describe("activity projection", () => {
  it("records every leased attempt with how and when it ended", () => {
    const view = activityView(fold(scenario()))
    expect(view.attempts).toStrictEqual([
      attempt(0, 1, "w1", 1002, { endedAt: 1500, outcome: "completed" }),
      attempt(1, 1, "w1", 1002, { endedAt: 1600, outcome: "failed", error: "boom" }),
      attempt(2, 1, "w2", 1002, { endedAt: 2500, outcome: "reclaimed", reason: "lease expired" }),
      attempt(1, 2, "w2", 2000, { endedAt: 3200, outcome: "completed" }),
      attempt(3, 1, "w1", 2600, { endedAt: 3001, outcome: "aborted", reason: "another attempt finished first" }),
      { ...attempt(3, 2, "w2", 2700, { endedAt: 3000, outcome: "completed" }), speculative: true }
    ])
    expect(view.jobs).toStrictEqual([{ jobId: "j1", kind: "sum", submittedAt: 1000, endedAt: 3300, state: "completed" }])
    expect(view.workers).toStrictEqual([
      { workerId: "w1", slots: 2, joinedAt: 1000, leftAt: 4000, how: "left" },
      { workerId: "w2", slots: 1, joinedAt: 1000 }
    ])
    expect(view).toMatchObject({ events: 20, firstTs: 900, lastTs: 4000, droppedAttempts: 0 })
  })

  it("counts events, leases, completions and failures per second", () => {
    const view = activityView(fold(scenario()))
    expect(view.seconds).toStrictEqual([
      { second: 0, events: 1, tasksCompleted: 0, tasksFailed: 0, leases: 0 },
      { second: 1, events: 9, tasksCompleted: 1, tasksFailed: 1, leases: 3 },
      { second: 2, events: 4, tasksCompleted: 0, tasksFailed: 0, leases: 3 },
      // The late result of the reclaimed attempt completed the task but no attempt record: not counted.
      { second: 3, events: 5, tasksCompleted: 2, tasksFailed: 0, leases: 0 },
      { second: 4, events: 1, tasksCompleted: 0, tasksFailed: 0, leases: 0 }
    ])
  })

  it("ends a departed worker's running attempts as reclaimed; a re-join updates its slots", () => {
    const job = F.sumSpec(1, 100, 3)
    const view = activityView(
      fold([
        F.coordinatorElected(1, { ts: 900 }),
        F.workerJoined("w1", 1, { ts: 1000 }),
        F.workerJoined("w2", 1, { ts: 1000 }),
        F.jobSubmitted("j", job, { ts: 1000 }),
        F.tasksScheduled("j", 3, { ts: 1000 }),
        F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 1 }], { ts: 1100 }),
        F.taskLeased("w2", [{ jobId: "j", index: 1, attempt: 1 }], { ts: 1100 }),
        F.workerLost("w1", { ts: 2000 }),
        F.workerJoined("w1", 4, { ts: 2500 }),
        F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 2 }], { ts: 2600 }),
        F.workerJoined("w2", 2, { ts: 2700 }), // restarted without leaving: its lease is gone
        F.workerLeft("w1", { ts: 3000 }),
        F.workerLost("w1", { ts: 3100 }) // moot: it left already
      ])
    )
    expect(view.attempts.map((a) => [a.jobId, a.index, a.attempt, a.workerId, a.outcome, a.endedAt, a.reason])).toEqual([
      ["j", 0, 1, "w1", "reclaimed", 2000, "worker lost"],
      ["j", 1, 1, "w2", "reclaimed", 2700, "worker restarted"],
      ["j", 0, 2, "w1", "reclaimed", 3000, "worker left"]
    ])
    expect(view.workers).toStrictEqual([
      { workerId: "w1", slots: 4, joinedAt: 1000, leftAt: 3000, how: "left" },
      { workerId: "w2", slots: 2, joinedAt: 1000 }
    ])
  })

  it("aborts the running attempts of a job that ends, and ignores later leases and results for it", () => {
    const job = F.sumSpec(1, 100, 2)
    const view = activityView(
      fold([
        F.coordinatorElected(1, { ts: 900 }),
        F.workerJoined("w1", 2, { ts: 1000 }),
        F.jobSubmitted("j", job, { ts: 1000 }),
        F.tasksScheduled("j", 2, { ts: 1000 }),
        F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 1 }], { ts: 1100 }),
        F.jobCancelled("j", "by request", { ts: 1200 }),
        F.taskLeased("w1", [{ jobId: "j", index: 1, attempt: 1 }], { ts: 1300 }), // moot
        F.taskCompleted("w1", [{ jobId: "j", index: 0, attempt: 1, result: F.answer(job, 0) }], { ts: 1400 }) // a duplicate
      ])
    )
    expect(view.attempts).toStrictEqual([
      { jobId: "j", index: 0, attempt: 1, workerId: "w1", leasedAt: 1100, endedAt: 1200, outcome: "aborted", speculative: false, retry: false, reason: "job cancelled" }
    ])
    expect(view.jobs).toStrictEqual([{ jobId: "j", kind: "sum", submittedAt: 1000, endedAt: 1200, state: "cancelled" }])
    expect(view.seconds.reduce((n, s) => n + s.tasksCompleted, 0)).toBe(0)
  })

  it("keeps a running attempt running, and a rejected job's name and state", () => {
    const named = F.sumSpec(1, 10, 1, { name: "tiny" })
    const a = fold([
      F.coordinatorElected(1, { ts: 900 }),
      F.workerJoined("w1", 1, { ts: 1000 }),
      F.jobSubmitted("r", named, { ts: 1000 }),
      F.jobRejected("r", "no", { ts: 1001 }),
      F.jobSubmitted("j", F.sumSpec(1, 10, 1), { ts: 1002 }),
      F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 1 }], { ts: 1003 }) // starts the job itself
    ])
    const view = activityView(a)
    expect(view.jobs).toStrictEqual([
      { jobId: "r", kind: "sum", name: "tiny", submittedAt: 1000, endedAt: 1001, state: "rejected" },
      { jobId: "j", kind: "sum", submittedAt: 1002, state: "running" }
    ])
    expect(view.attempts).toStrictEqual([{ jobId: "j", index: 0, attempt: 1, workerId: "w1", leasedAt: 1003, outcome: "running", speculative: false, retry: false }])
  })

  it("cuts long errors to TEXT_KEPT characters", () => {
    const job = F.sumSpec(1, 10, 1)
    const view = activityView(
      fold([
        F.coordinatorElected(1, { ts: 900 }),
        F.workerJoined("w1", 1, { ts: 1000 }),
        F.jobSubmitted("j", job, { ts: 1000 }),
        F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 1 }], { ts: 1003 }),
        F.taskFailed("w1", [{ jobId: "j", index: 0, attempt: 1, error: "x".repeat(500), retryable: false }], { ts: 1004 })
      ])
    )
    const error = view.attempts[0]?.error ?? ""
    expect(error).toHaveLength(TEXT_KEPT)
    expect(error).toBe(`${"x".repeat(TEXT_KEPT - 1)}…`)
  })

  it("keeps at most attemptsKept records, dropping the oldest and forgetting their keys", () => {
    const a = emptyActivity({ attemptsKept: 3 })
    const job = F.sumSpec(1, 1000, 6)
    const events: DtqEvent[] = [F.coordinatorElected(1, { ts: 900 }), F.workerJoined("w1", 8, { ts: 1000 }), F.jobSubmitted("j", job, { ts: 1000 })]
    for (let i = 0; i < 6; i++) events.push(F.taskLeased("w1", [{ jobId: "j", index: i, attempt: 1 }], { ts: 1100 + i }))
    // Task 0's record was dropped: its result changes nothing and is not counted.
    events.push(F.taskCompleted("w1", [{ jobId: "j", index: 0, attempt: 1, result: F.answer(job, 0) }], { ts: 2000 }))
    events.push(F.taskCompleted("w1", [{ jobId: "j", index: 5, attempt: 1, result: F.answer(job, 5) }], { ts: 2001 }))
    fold(events, a)
    const view = activityView(a)
    expect(view.droppedAttempts).toBe(3)
    expect(view.attempts.map((r) => [r.index, r.outcome])).toEqual([[3, "running"], [4, "running"], [5, "completed"]])
    expect(a.byKey.size).toBe(3)
    expect([...a.byKey.keys()].sort()).toEqual(["j/3.1", "j/4.1", "j/5.1"])
    expect(a.runningByWorker.get("w1")?.size).toBe(2)
    expect(view.seconds.find((s) => s.second === 2)?.tasksCompleted).toBe(1)
  })

  it("keeps only the last secondsKept seconds of counters", () => {
    const a = emptyActivity({ secondsKept: 5 })
    const events: DtqEvent[] = []
    for (let s = 0; s < 12; s++) events.push(F.workerJoined(`w${s}`, 1, { ts: s * 1000 + 10 }))
    events.push(F.workerJoined("late", 1, { ts: 3000 })) // older than the window: not counted
    fold(events, a)
    const view = activityView(a)
    expect(view.seconds.map((s) => s.second)).toEqual([7, 8, 9, 10, 11])
    expect(a.seconds.size).toBe(5)
    expect(view.events).toBe(13)
  })

  it("gives a view that survives a JSON round trip unchanged, and is the same for the same log", () => {
    const view = activityView(fold(scenario()))
    expect(JSON.parse(JSON.stringify(view))).toStrictEqual(view)
    expect(activityView(fold(scenario()))).toStrictEqual(view)
    expect(activityView(emptyActivity())).toStrictEqual({ events: 0, droppedAttempts: 0, attempts: [], workers: [], jobs: [], seconds: [] })
  })

  it("sorts attempts by lease time, then job, index and attempt, whatever the log order", () => {
    const a = emptyActivity()
    const lease = (workerId: string, jobId: string, index: number, ts: number) => F.taskLeased(workerId, [{ jobId, index, attempt: 1 }], { ts })
    // Applied directly: the ordering does not depend on the main fold.
    for (const e of [lease("w1", "b", 0, 2000), lease("w1", "a", 1, 1000), lease("w2", "a", 0, 1000), lease("w1", "b", 1, 500)]) applyActivity(a, e)
    expect(activityView(a).attempts.map((r) => `${r.jobId}/${r.index}@${r.leasedAt}`)).toEqual(["b/1@500", "a/0@1000", "a/1@1000", "b/0@2000"])
  })
})
