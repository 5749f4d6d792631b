import { describe, expect, it } from "vitest"
import { plan, InFlight } from "../../src/coordinator/scheduler.ts"
import type { DtqEvent } from "../../src/domain/events.ts"
import { decodeEvent, encodeEvent } from "../../src/domain/event-codec.ts"
import { canonical, stateDigest } from "../../src/projections/digest.ts"
import { foldMessage } from "../../src/projections/fold-message.ts"
import { applyEvent } from "../../src/projections/fold.ts"
import { emptyState, leaseKey, RECENT_REJECTED_LIMIT, runKey, TaskStatus, type JobState, type WorkerState } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"

const JOB = "j-1"
const SPEC = F.sumSpec(1, 100, 4) // chunks 1..25, 26..50, 51..75, 76..100
const ANSWERS = [0, 1, 2, 3].map((i) => F.answer(SPEC, i))

const job = (log: F.Log, jobId = JOB): JobState => {
  const found = log.state.jobs.get(jobId)
  if (found === undefined) throw new Error(`no job ${jobId}`)
  return found
}
const worker = (log: F.Log, workerId: string): WorkerState => {
  const found = log.state.workers.get(workerId)
  if (found === undefined) throw new Error(`no worker ${workerId}`)
  return found
}

/** Epoch 1, a running job of 4 tasks, two live workers with 4 slots each. */
const running = (): F.Log =>
  new F.Log().apply(
    F.coordinatorElected(1, { ts: 1000 }),
    F.jobSubmitted(JOB, SPEC, { ts: 1001 }),
    F.tasksScheduled(JOB, 4, { ts: 1002 }),
    F.workerJoined("w1", 4, { ts: 1003 }),
    F.workerJoined("w2", 4, { ts: 1004 })
  )

const lease = (workerId: string, index: number, attempt = 1, ts = 1100) => F.taskLeased(workerId, [{ jobId: JOB, index, attempt }], { ts })
const result = (workerId: string, index: number, attempt = 1, value: unknown = ANSWERS[index], ts = 1200) =>
  F.taskCompleted(workerId, [{ jobId: JOB, index, attempt, result: value, ms: 10 }], { ts })
const failure = (workerId: string, index: number, attempt = 1, error = "boom", retryable = true) =>
  F.taskFailed(workerId, [{ jobId: JOB, index, attempt, error, retryable }], { ts: 1150 })

const snapshot = (value: unknown): string => JSON.stringify(canonical(value))

describe("the happy path", () => {
  it("CoordinatorElected -> JobSubmitted -> TasksScheduled -> WorkerJoined -> TaskLeased -> TaskCompleted -> JobCompleted", () => {
    const log = new F.Log()
    log.apply(F.coordinatorElected(1, { ts: 1000 }))
    expect(log.state).toMatchObject({ seq: 1, epoch: 1, leaderId: F.COORDINATOR, leaderSince: 1000, lastTs: 1000 })

    log.apply(F.jobSubmitted(JOB, SPEC, { ts: 1001 }))
    expect(job(log)).toMatchObject({ phase: "queued", count: 4, done: 0, submittedAt: 1001, submittedBy: "p1", sum: 0n })
    expect(job(log).status).toHaveLength(0)
    expect([...log.state.activeJobs]).toEqual([JOB])

    log.apply(F.tasksScheduled(JOB, 4, { ts: 1002 }))
    expect(job(log).phase).toBe("running")
    expect(job(log).startedAt).toBe(1002)
    expect([...job(log).status]).toEqual([0, 0, 0, 0])
    expect([...job(log).attempts]).toEqual([0, 0, 0, 0])

    log.apply(F.workerJoined("w1", 4, { ts: 1003 }))
    expect(worker(log, "w1")).toMatchObject({ phase: "live", slots: 4, joinedAt: 1003, assigned: 0 })

    log.apply(
      F.taskLeased(
        "w1",
        [0, 1, 2, 3].map((index) => ({ jobId: JOB, index, attempt: 1 })),
        { ts: 1100, deadline: 5000 }
      )
    )
    expect([...job(log).status]).toEqual([1, 1, 1, 1].map(() => TaskStatus.Running))
    expect([...job(log).attempts]).toEqual([1, 1, 1, 1])
    expect(job(log).cursor).toBe(4)
    expect(job(log).running.size).toBe(4)
    expect(job(log).running.get(runKey(2, 1))).toEqual({
      index: 2,
      attempt: 1,
      workerId: "w1",
      leasedAt: 1100,
      speculative: false,
      deadline: 5000,
      progress: 0,
      progressAt: 1100
    })
    expect([...worker(log, "w1").leases].sort()).toEqual([0, 1, 2, 3].map((i) => leaseKey(JOB, i, 1)))
    expect(worker(log, "w1").assigned).toBe(4)

    log.apply(
      F.taskCompleted(
        "w1",
        [0, 1, 2, 3].map((index) => ({ jobId: JOB, index, attempt: 1, result: ANSWERS[index], ms: 10 + index })),
        { ts: 1200 }
      )
    )
    expect(job(log)).toMatchObject({ done: 4, duplicates: 0, sum: 5050n, taskMsTotal: 46 })
    expect([...job(log).status]).toEqual([2, 2, 2, 2])
    expect(job(log).running.size).toBe(0)
    expect(worker(log, "w1")).toMatchObject({ completed: 4, taskMsTotal: 46, lastEventAt: 1200 })
    expect(worker(log, "w1").leases.size).toBe(0)

    log.apply(F.jobCompleted(JOB, "5050", { ts: 1300 }))
    expect(job(log)).toMatchObject({ phase: "completed", result: "5050", endedAt: 1300 })
    expect(log.state.activeJobs.size).toBe(0)
    expect(log.state).toMatchObject({ seq: 7, lastTs: 1300, eventsApplied: 7, rejectedCount: 0, fencedCount: 0, duplicateResults: 0 })
    expect(log.state.recentRejected).toEqual([])
  })

  it("sums exactly for huge ranges and sumsq", () => {
    const n = 10n ** 25n + 2n
    const spec = F.sumSpec(1n, n, 7)
    const sq = F.sumsqSpec(-1000, 999, 37)
    const log = new F.Log().apply(
      F.coordinatorElected(1),
      F.jobSubmitted("big", spec),
      F.jobSubmitted("sq", sq),
      F.tasksScheduled("big", 7),
      F.tasksScheduled("sq", 37),
      F.workerJoined("w1", 64)
    )
    log.apply(F.taskLeased("w1", Array.from({ length: 7 }, (_, index) => ({ jobId: "big", index, attempt: 1 }))))
    log.apply(F.taskLeased("w1", Array.from({ length: 37 }, (_, index) => ({ jobId: "sq", index, attempt: 1 }))))
    log.apply(F.taskCompleted("w1", Array.from({ length: 7 }, (_, index) => ({ jobId: "big", index, attempt: 1, result: F.answer(spec, index) }))))
    // Results of the second job arrive in reverse order, in several events.
    for (let index = 36; index >= 0; index--) log.apply(F.taskCompleted("w1", [{ jobId: "sq", index, attempt: 1, result: F.answer(sq, index) }]))
    expect(job(log, "big")).toMatchObject({ done: 7, sum: (n * (n + 1n)) / 2n })
    let expected = 0n
    for (let k = -1000n; k <= 999n; k++) expected += k * k
    expect(job(log, "sq")).toMatchObject({ done: 37, sum: expected })
    expect(log.state.rejectedCount).toBe(0)
  })
})

describe("duplicates and results set aside", () => {
  it("a second TaskCompleted for the same task is a duplicate: counted, sum unchanged", () => {
    const log = running().apply(lease("w1", 0), result("w1", 0))
    expect(job(log)).toMatchObject({ done: 1, sum: BigInt(ANSWERS[0]!) })
    log.apply(result("w1", 0))
    expect(job(log)).toMatchObject({ done: 1, duplicates: 1, sum: BigInt(ANSWERS[0]!) })
    expect(log.state.duplicateResults).toBe(1)
    // A duplicate with a different value does not change the sum either.
    log.apply(result("w1", 0, 1, "999999"))
    expect(job(log)).toMatchObject({ done: 1, duplicates: 2, sum: BigInt(ANSWERS[0]!) })
    expect(log.state.duplicateResults).toBe(2)
    expect(log.state.rejectedCount).toBe(0)
    expect(worker(log, "w1").completed).toBe(1)
  })

  it("a result for an attempt never leased is set aside and changes nothing", () => {
    const log = running().apply(lease("w1", 0))
    const before = snapshot(job(log))
    const w1Before = snapshot({ ...worker(log, "w1"), lastEventAt: 0 })

    log.apply(result("w1", 0, 2)) // attempt 2 of task 0 was never leased
    expect(log.state.rejectedCount).toBe(1)
    expect(log.state.recentRejected.at(-1)).toEqual({
      seq: log.seq,
      reason: `TaskCompleted: result for task 0 attempt 2 of ${JOB}, which was never leased`
    })
    log.apply(result("w1", 1)) // task 1 was never leased at all
    expect(log.rejectedReasons.at(-1)).toContain("task 1 attempt 1")
    expect(log.rejectedReasons.at(-1)).toContain("never leased")
    log.apply(result("w1", 9)) // beyond the task count
    expect(log.rejectedReasons.at(-1)).toContain("never leased")
    log.apply(F.taskCompleted("w1", [{ jobId: "j-unknown", index: 0, attempt: 1, result: "1" }]))
    expect(log.rejectedReasons.at(-1)).toBe("TaskCompleted: result for unknown job j-unknown")

    expect(log.state.rejectedCount).toBe(4)
    expect(snapshot(job(log))).toBe(before)
    expect(snapshot({ ...worker(log, "w1"), lastEventAt: 0 })).toBe(w1Before)
    expect(job(log).sum).toBe(0n)
  })

  it("a result for a queued job (no tasks scheduled yet) is set aside", () => {
    const log = new F.Log().apply(F.coordinatorElected(1), F.jobSubmitted(JOB, SPEC), F.workerJoined("w1", 4))
    log.apply(result("w1", 0))
    expect(log.state.rejectedCount).toBe(1)
    expect(log.rejectedReasons[0]).toContain("never leased")
    expect(job(log)).toMatchObject({ phase: "queued", done: 0, sum: 0n })
  })

  it("a result from a worker that does not hold the lease is set aside", () => {
    const log = running().apply(lease("w1", 0))
    const before = snapshot(job(log))
    log.apply(result("w2", 0))
    expect(log.state.rejectedCount).toBe(1)
    expect(log.rejectedReasons[0]).toBe(`TaskCompleted: result for task 0 attempt 1 of ${JOB} from w2, but it is leased to w1`)
    expect(snapshot(job(log))).toBe(before)
    expect(worker(log, "w1").leases.has(leaseKey(JOB, 0, 1))).toBe(true)
    expect(worker(log, "w2").completed).toBe(0)
    // The holder's result is still accepted afterwards.
    log.apply(result("w1", 0))
    expect(job(log)).toMatchObject({ done: 1, sum: BigInt(ANSWERS[0]!) })
  })

  it("the valid results of a batch are applied, the invalid ones set aside", () => {
    const log = running().apply(F.taskLeased("w1", [0, 1].map((index) => ({ jobId: JOB, index, attempt: 1 }))))
    log.apply(
      F.taskCompleted("w1", [
        { jobId: JOB, index: 0, attempt: 1, result: ANSWERS[0] },
        { jobId: JOB, index: 2, attempt: 1, result: ANSWERS[2] }, // never leased
        { jobId: JOB, index: 1, attempt: 1, result: ANSWERS[1] }
      ])
    )
    expect(job(log)).toMatchObject({ done: 2, sum: BigInt(ANSWERS[0]!) + BigInt(ANSWERS[1]!) })
    expect(log.state.rejectedCount).toBe(1)
    expect(log.state.eventsApplied).toBe(7)
  })

  // A result that is not a decimal integer string is set aside, and its attempt fails: the task must never be
  // left Running with nobody holding it, or no later decision could finish the job.
  it("a malformed result does not strand its task: its attempt fails and awaits a decision", () => {
    const log = running().apply(lease("w1", 0))
    log.apply(result("w1", 0, 1, 12345)) // a number, not a decimal integer string
    expect(log.state.rejectedCount).toBe(1)
    expect(log.rejectedReasons[0]).toContain("is not a decimal integer string")
    expect(job(log).done).toBe(0)
    expect(job(log).sum).toBe(0n)
    // Either fix is fine: keep the lease as it was, or treat the attempt as failed (needsDecision).
    // What is wrong is a task that is Running while no attempt of it is leased or reclaimed.
    const stranded = job(log).status[0] === TaskStatus.Running && job(log).running.size === 0 && job(log).orphans.size === 0
    expect({ status: job(log).status[0], leased: job(log).running.size, stranded }).toMatchObject({ stranded: false })
  })

  it("after a malformed result, the scheduler retries the task", () => {
    const log = running().apply(lease("w1", 0), result("w1", 0, 1, "not a number"))
    expect(job(log).status[0]).toBe(TaskStatus.NeedsDecision)
    expect(job(log).running.size).toBe(0)
    expect(worker(log, "w1").leases.size).toBe(0)
    const drafts = plan(log.state, new InFlight(), 2000, { maxLeasesPerEvent: 512, random: () => 0.5, sharing: "fifo" })
    expect(drafts.filter((d) => d.type === "RetryScheduled" && d.index === 0)).toHaveLength(1)
    expect(drafts.filter((d) => d.type === "JobFailed")).toEqual([])
  })
})

describe("epochs and fencing", () => {
  it("a decision of a stale epoch after a newer CoordinatorElected is fenced", () => {
    const log = new F.Log().apply(
      F.coordinatorElected(1, { ts: 1000 }),
      F.jobSubmitted(JOB, SPEC),
      F.coordinatorElected(2, { ts: 2000, by: "c2" })
    )
    expect(log.state).toMatchObject({ epoch: 2, leaderId: "c2", leaderSince: 2000 })
    const applied = log.state.eventsApplied
    log.apply(F.tasksScheduled(JOB, 4, { epoch: 1 }))
    expect(job(log).phase).toBe("queued")
    expect(log.state).toMatchObject({ fencedCount: 1, rejectedCount: 1, eventsApplied: applied })
    expect(log.rejectedReasons[0]).toBe("TasksScheduled fenced: epoch 1 is not the current epoch 2")
    // A decision from the future is fenced too.
    log.apply(F.tasksScheduled(JOB, 4, { epoch: 3 }))
    expect(log.state.fencedCount).toBe(2)
    expect(job(log).phase).toBe("queued")
    // The current epoch's decision is applied.
    log.apply(F.tasksScheduled(JOB, 4, { epoch: 2, by: "c2" }))
    expect(job(log).phase).toBe("running")
    expect(log.state.fencedCount).toBe(2)
  })

  it("every kind of decision is fenced when stale", () => {
    const log = running().apply(lease("w1", 0), F.coordinatorElected(2, { by: "c2" }))
    const before = snapshot(job(log))
    const stale = { epoch: 1 }
    log.apply(
      F.taskLeased("w1", [{ jobId: JOB, index: 1, attempt: 1 }], stale),
      F.taskReclaimed(JOB, 0, 1, "stale", stale),
      F.jobCompleted(JOB, "0", stale),
      F.jobFailed(JOB, "x", stale),
      F.jobCancelled(JOB, "x", stale),
      F.jobRejected(JOB, "x", stale),
      F.workerLost("w1", stale),
      F.retryScheduled(JOB, 0, 1, 5000, stale),
      F.attemptAborted("w1", JOB, 0, 1, "stale", stale)
    )
    expect(log.state.fencedCount).toBe(9)
    expect(log.state.rejectedCount).toBe(9)
    expect(snapshot(job(log))).toBe(before)
    expect(worker(log, "w1").phase).toBe("live")
  })

  it("before any CoordinatorElected every decision is fenced", () => {
    const log = new F.Log().apply(F.jobSubmitted(JOB, SPEC), F.tasksScheduled(JOB, 4, { epoch: 1 }))
    expect(log.state.fencedCount).toBe(1)
    expect(job(log).phase).toBe("queued")
  })

  it("a CoordinatorElected with a non-newer epoch is fenced", () => {
    const log = new F.Log().apply(F.coordinatorElected(1, { ts: 900, by: "c1" })).apply(F.coordinatorElected(2, { ts: 1000, by: "c2" }))
    log.apply(F.coordinatorElected(2, { ts: 1100, by: "c3" }))
    expect(log.state).toMatchObject({ epoch: 2, leaderId: "c2", leaderSince: 1000, fencedCount: 1, rejectedCount: 1 })
    expect(log.rejectedReasons[0]).toBe("CoordinatorElected: epoch 2 is not newer than the current epoch 2")
    log.apply(F.coordinatorElected(1, { ts: 1200, by: "c4" }))
    expect(log.state).toMatchObject({ epoch: 2, leaderId: "c2", fencedCount: 2, rejectedCount: 2 })
  })

  it("a term claim is valid only as exactly the next epoch: jumps are set aside and the leader keeps leading", () => {
    const log = new F.Log().apply(F.coordinatorElected(1, { ts: 900, by: "c1" }))
    for (const epoch of [Number.MAX_SAFE_INTEGER, 6, 3]) log.apply(F.coordinatorElected(epoch, { ts: 1000, by: "forger" }))
    expect(log.state).toMatchObject({ epoch: 1, leaderId: "c1", leaderSince: 900, rejectedCount: 3, fencedCount: 0 })
    expect(log.rejectedReasons).toEqual([
      `CoordinatorElected: epoch ${Number.MAX_SAFE_INTEGER} is not the next epoch 2`,
      "CoordinatorElected: epoch 6 is not the next epoch 2",
      "CoordinatorElected: epoch 3 is not the next epoch 2"
    ])
    // The leader's own claim of the next term still lands.
    log.apply(F.coordinatorElected(2, { ts: 1100, by: "c1" }))
    expect(log.state).toMatchObject({ epoch: 2, leaderId: "c1" })
  })
})

describe("worker loss, reclaims and the orphan rule", () => {
  it("WorkerLost reclaims the worker's leases", () => {
    const log = running().apply(F.taskLeased("w1", [0, 1].map((index) => ({ jobId: JOB, index, attempt: 1 }))), lease("w2", 2))
    log.apply(F.workerLost("w1", { ts: 1500 }))
    expect(worker(log, "w1")).toMatchObject({ phase: "lost", lastEventAt: 1500 })
    expect(worker(log, "w1").leases.size).toBe(0)
    expect(worker(log, "w2").leases.size).toBe(1)
    expect([...job(log).status]).toEqual([TaskStatus.NeedsDecision, TaskStatus.NeedsDecision, TaskStatus.Running, TaskStatus.Pending])
    expect([...job(log).needsDecision.entries()]).toEqual([
      [0, { attempt: 1, error: "worker lost", retryable: true }],
      [1, { attempt: 1, error: "worker lost", retryable: true }]
    ])
    expect([...job(log).running.keys()]).toEqual([runKey(2, 1)])
    expect([...job(log).orphans.entries()]).toEqual([
      [runKey(0, 1), "w1"],
      [runKey(1, 1), "w1"]
    ])
    expect(job(log).failures).toBe(2)
    expect(job(log).lastError.get(0)).toBe("worker lost")
    // Losing a lost worker again is moot (no-op); leasing to it is refused.
    const before = log.state.rejectedCount
    log.apply(F.workerLost("w1"))
    expect(log.state.rejectedCount).toBe(before)
    expect(worker(log, "w1").phase).toBe("lost")
    log.apply(lease("w1", 3))
    expect(log.rejectedReasons.at(-1)).toBe("TaskLeased: worker w1 is lost, not live")
    expect(job(log).status[3]).toBe(TaskStatus.Pending)
  })

  it("the lost worker's late result is accepted as the first valid result (orphan rule)", () => {
    const log = running().apply(lease("w1", 0), F.workerLost("w1"))
    log.apply(result("w1", 0))
    expect(log.state.rejectedCount).toBe(0)
    expect(job(log)).toMatchObject({ done: 1, duplicates: 0, sum: BigInt(ANSWERS[0]!) })
    expect(job(log).status[0]).toBe(TaskStatus.Done)
    expect(job(log).needsDecision.size).toBe(0)
    expect(job(log).orphans.size).toBe(0)
    expect(worker(log, "w1").completed).toBe(1)
  })

  it("...also after the retry was scheduled, and while a second attempt runs", () => {
    const log = running().apply(lease("w1", 0), F.workerLost("w1"), F.retryScheduled(JOB, 0, 1, 1300))
    expect(job(log).status[0]).toBe(TaskStatus.Pending)
    log.apply(lease("w2", 0, 2))
    expect(job(log).status[0]).toBe(TaskStatus.Running)
    log.apply(result("w1", 0, 1)) // the orphan reports first: it wins
    expect(job(log)).toMatchObject({ done: 1, duplicates: 0, sum: BigInt(ANSWERS[0]!) })
    expect(job(log).orphans.size).toBe(0)
    log.apply(result("w2", 0, 2)) // the second attempt is then a duplicate, and frees w2's slot
    expect(job(log)).toMatchObject({ done: 1, duplicates: 1, sum: BigInt(ANSWERS[0]!) })
    expect(worker(log, "w2").leases.size).toBe(0)
    expect(job(log).running.size).toBe(0)
    expect(log.state.rejectedCount).toBe(0)
  })

  it("the lost worker's late result is a duplicate if the task is already done", () => {
    const log = running().apply(lease("w1", 0), F.workerLost("w1"), F.retryScheduled(JOB, 0, 1, 1300), lease("w2", 0, 2))
    log.apply(result("w2", 0, 2))
    expect(job(log)).toMatchObject({ done: 1, duplicates: 0, sum: BigInt(ANSWERS[0]!) })
    log.apply(result("w1", 0, 1))
    expect(job(log)).toMatchObject({ done: 1, duplicates: 1, sum: BigInt(ANSWERS[0]!) })
    expect(log.state.duplicateResults).toBe(1)
    expect(log.state.rejectedCount).toBe(0)
  })

  it("an orphan's result from another worker is set aside", () => {
    const log = running().apply(lease("w1", 0), F.workerLost("w1"))
    log.apply(result("w2", 0, 1))
    expect(log.rejectedReasons[0]).toBe(`TaskCompleted: result for task 0 attempt 1 of ${JOB} from w2, which does not hold it`)
    expect(job(log)).toMatchObject({ done: 0, sum: 0n })
    expect(job(log).status[0]).toBe(TaskStatus.NeedsDecision)
  })

  it("TaskReclaimed makes the attempt an orphan and the task await a decision", () => {
    const log = running().apply(lease("w1", 0))
    log.apply(F.taskReclaimed(JOB, 0, 1, "stalled"))
    expect(job(log).status[0]).toBe(TaskStatus.NeedsDecision)
    expect(job(log).needsDecision.get(0)).toEqual({ attempt: 1, error: "reclaimed: stalled", retryable: true })
    expect(job(log).orphans.get(runKey(0, 1))).toBe("w1")
    expect(worker(log, "w1").leases.size).toBe(0)
    expect(worker(log, "w1").phase).toBe("live")
    // Reclaiming it again is moot (the attempt has ended): a no-op, not a rejection...
    log.apply(F.taskReclaimed(JOB, 0, 1, "again"))
    expect(log.rejectedReasons).toEqual([])
    // ...while an attempt that never existed is refused.
    log.apply(F.taskReclaimed(JOB, 0, 5, "never leased"))
    expect(log.rejectedReasons.at(-1)).toBe(`TaskReclaimed: task 0 attempt 5 of ${JOB} is not running on w1`)
  })

  it("WorkerLeft reclaims too; a restarted worker (WorkerJoined again) does not keep its leases", () => {
    const log = running().apply(lease("w1", 0), lease("w2", 1))
    log.apply(F.workerLeft("w1"))
    expect(worker(log, "w1").phase).toBe("left")
    expect(job(log).needsDecision.get(0)?.error).toBe("worker left")
    log.apply(F.workerJoined("w2", 8, { ts: 3000, prefetch: 2 }))
    expect(worker(log, "w2")).toMatchObject({ phase: "live", slots: 8, prefetch: 2, joinedAt: 3000 })
    expect(worker(log, "w2").leases.size).toBe(0)
    expect(job(log).needsDecision.get(1)?.error).toBe("worker restarted")
    expect(log.state.workers.size).toBe(2)
  })

  it("a draining worker keeps its leases but gets no new ones", () => {
    const log = running().apply(lease("w1", 0), F.workerDraining("w1"))
    expect(worker(log, "w1").phase).toBe("draining")
    expect(worker(log, "w1").leases.size).toBe(1)
    log.apply(lease("w1", 1))
    expect(log.rejectedReasons.at(-1)).toBe("TaskLeased: worker w1 is draining, not live")
    log.apply(result("w1", 0))
    expect(job(log).done).toBe(1)
    log.apply(F.workerDraining("w1"))
    expect(log.rejectedReasons.at(-1)).toBe("WorkerDraining: worker w1 is draining, not live")
  })
})

describe("failures, retries and the end of a job", () => {
  it("TaskFailed moves the task to needsDecision", () => {
    const log = running().apply(lease("w1", 0))
    log.apply(failure("w1", 0, 1, "boom", true))
    expect(job(log).status[0]).toBe(TaskStatus.NeedsDecision)
    expect([...job(log).needsDecision.entries()]).toEqual([[0, { attempt: 1, error: "boom", retryable: true }]])
    expect(job(log).failures).toBe(1)
    expect(job(log).lastError.get(0)).toBe("boom")
    expect(job(log).running.size).toBe(0)
    expect(worker(log, "w1")).toMatchObject({ failed: 1, lastEventAt: 1150 })
    expect(worker(log, "w1").leases.size).toBe(0)
    expect(log.state.rejectedCount).toBe(0)
  })

  it("TaskFailed from a worker that does not hold the attempt is set aside", () => {
    const log = running().apply(lease("w1", 0))
    log.apply(failure("w2", 0))
    expect(log.rejectedReasons[0]).toBe(`TaskFailed: failure for task 0 attempt 1 of ${JOB} from w2, but it is held by w1`)
    expect(job(log).status[0]).toBe(TaskStatus.Running)
    log.apply(failure("w1", 0, 2))
    expect(log.rejectedReasons.at(-1)).toContain("never leased")
  })

  it("RetryScheduled makes the task Pending with retryAt; the next lease is attempt 2", () => {
    const log = running().apply(lease("w1", 0), failure("w1", 0))
    log.apply(F.retryScheduled(JOB, 0, 1, 1700, { ts: 1500 }))
    expect(job(log).status[0]).toBe(TaskStatus.Pending)
    expect(job(log).retryAt.get(0)).toBe(1700)
    expect(job(log).needsDecision.size).toBe(0)
    expect(log.state.rejectedCount).toBe(0)
    // A second retry of the same attempt is moot (a no-op); a retry of an attempt never leased is refused.
    log.apply(F.retryScheduled(JOB, 0, 1, 1800))
    expect(log.state.rejectedCount).toBe(0)
    expect(job(log).retryAt.get(0)).toBe(1700)
    log.apply(F.retryScheduled(JOB, 0, 3, 1800))
    expect(log.rejectedReasons.at(-1)).toBe(`RetryScheduled: task 0 attempt 3 of ${JOB} is not awaiting a decision`)
    // Attempt 1 again is not the next attempt; attempt 2 is.
    log.apply(lease("w2", 0, 1))
    expect(log.rejectedReasons.at(-1)).toBe(`TaskLeased: task 0 of ${JOB}: attempt 1 is not the next attempt`)
    log.apply(lease("w2", 0, 2))
    expect(job(log).status[0]).toBe(TaskStatus.Running)
    expect(job(log).attempts[0]).toBe(2)
    expect(job(log).retryAt.size).toBe(0)
    log.apply(result("w2", 0, 2))
    expect(job(log)).toMatchObject({ done: 1, sum: BigInt(ANSWERS[0]!) })
  })

  it("a lease of a task awaiting a decision is its retry; of a done task moot; out of range refused", () => {
    const log = running().apply(lease("w1", 0), failure("w1", 0), lease("w1", 1), result("w1", 1))
    log.apply(lease("w2", 0, 2))
    expect(job(log).status[0]).toBe(TaskStatus.Running)
    expect(job(log).needsDecision.has(0)).toBe(false)
    let rejected = log.state.rejectedCount
    log.apply(lease("w2", 1, 2))
    expect(log.state.rejectedCount).toBe(rejected) // moot: task 1 is done
    expect(job(log).status[1]).toBe(TaskStatus.Done)
    // The moot lease still reached w2, which may run it: its result is a duplicate, not "never leased".
    expect(job(log).attempts[1]).toBe(2)
    log.apply(result("w2", 1, 2))
    expect(log.state.rejectedCount).toBe(rejected)
    expect(job(log)).toMatchObject({ done: 1, duplicates: 1 })
    // A result for an attempt beyond the moot one is still refused.
    log.apply(result("w2", 1, 3))
    expect(log.rejectedReasons.at(-1)).toBe(`TaskCompleted: result for task 1 attempt 3 of ${JOB}, which was never leased`)
    rejected++
    log.apply(lease("w2", 4))
    expect(log.rejectedReasons.at(-1)).toBe(`TaskLeased: task 4 of ${JOB}: the job has 4 tasks`)
    log.apply(F.taskLeased("w2", [{ jobId: "nope", index: 0, attempt: 1 }]))
    expect(log.rejectedReasons.at(-1)).toBe("TaskLeased: task 0 of nope: job is unknown")
    log.apply(F.taskLeased("w9", [{ jobId: JOB, index: 2, attempt: 1 }]))
    expect(log.rejectedReasons.at(-1)).toBe("TaskLeased: worker w9 is unknown, not live")
    expect(log.state.rejectedCount).toBe(rejected + 3)
    expect([...worker(log, "w2").leases]).toEqual([`${JOB}/0.2`]) // the retry of task 0
  })

  it("JobCancelRequested then JobCancelled frees worker leases", () => {
    const log = running().apply(F.taskLeased("w1", [0, 1].map((index) => ({ jobId: JOB, index, attempt: 1 }))), lease("w2", 2))
    log.apply(F.jobCancelRequested(JOB))
    expect(job(log).cancelRequested).toBe("cancelled by request")
    log.apply(F.jobCancelled(JOB, "cancelled by request", { ts: 1900 }))
    expect(job(log)).toMatchObject({ phase: "cancelled", reason: "cancelled by request", endedAt: 1900 })
    expect(worker(log, "w1").leases.size).toBe(0)
    expect(worker(log, "w2").leases.size).toBe(0)
    expect(job(log).running.size).toBe(0)
    expect(log.state.activeJobs.size).toBe(0)
    // A late result after the end counts as a duplicate and changes nothing.
    log.apply(result("w1", 0))
    expect(job(log)).toMatchObject({ done: 0, sum: 0n, duplicates: 1 })
    // The job cannot end twice (a second end is moot), and a new cancel request is refused.
    const before = log.state.rejectedCount
    log.apply(F.jobCancelled(JOB, "again"), F.jobFailed(JOB, "x"), F.jobCancelRequested(JOB, "again"))
    expect(log.state.rejectedCount).toBe(before + 1)
    expect(log.rejectedReasons.at(-1)).toBe(`JobCancelRequested: job ${JOB} already cancelled`)
    expect(job(log).phase).toBe("cancelled")
    expect(job(log).reason).toBe("cancelled by request")
  })

  it("JobCancelRequested keeps the given reason", () => {
    const log = running().apply(F.jobCancelRequested(JOB, "wrong range"))
    expect(job(log).cancelRequested).toBe("wrong range")
  })

  it("JobCompleted is refused unless done == count", () => {
    const log = running().apply(F.taskLeased("w1", [0, 1, 2, 3].map((index) => ({ jobId: JOB, index, attempt: 1 }))))
    for (const index of [0, 1, 2]) log.apply(result("w1", index))
    log.apply(F.jobCompleted(JOB, "1"))
    expect(log.rejectedReasons.at(-1)).toBe(`JobCompleted: job ${JOB} is not complete (3/4 tasks)`)
    expect(job(log).phase).toBe("running")
    expect(job(log).result).toBeUndefined()
    expect(log.state.activeJobs.has(JOB)).toBe(true)
    log.apply(result("w1", 3), F.jobCompleted(JOB, "5050"))
    expect(job(log)).toMatchObject({ phase: "completed", result: "5050" })
    const before = log.state.rejectedCount
    log.apply(F.jobCompleted(JOB, "5050"))
    expect(log.state.rejectedCount).toBe(before) // moot: already completed
  })

  it("JobCompleted of a queued job is refused", () => {
    const log = new F.Log().apply(F.coordinatorElected(1), F.jobSubmitted(JOB, SPEC), F.jobCompleted(JOB, "0"))
    expect(job(log).phase).toBe("queued")
    expect(log.state.rejectedCount).toBe(1)
  })

  it("JobFailed and JobRejected end a job", () => {
    const log = running().apply(lease("w1", 0), F.jobFailed(JOB, "task 0 failed"))
    expect(job(log)).toMatchObject({ phase: "failed", reason: "task 0 failed" })
    expect(worker(log, "w1").leases.size).toBe(0)
    const other = new F.Log().apply(F.coordinatorElected(1), F.jobSubmitted(JOB, SPEC), F.jobRejected(JOB, "too big"))
    expect(job(other)).toMatchObject({ phase: "rejected", reason: "too big" })
    expect(other.state.activeJobs.size).toBe(0)
    // Rejecting a job that has ended is moot; a running one is refused.
    const before = log.state.rejectedCount
    log.apply(F.jobRejected(JOB, "late"))
    expect(log.state.rejectedCount).toBe(before)
    expect(job(log).phase).toBe("failed")
    const running2 = running().apply(F.jobRejected(JOB, "late"))
    expect(running2.rejectedReasons.at(-1)).toBe(`JobRejected: job ${JOB} is running, not queued`)
  })

  it("JobSubmitted twice and TasksScheduled with a wrong count are set aside; TasksScheduled twice is moot", () => {
    const log = new F.Log().apply(F.coordinatorElected(1), F.jobSubmitted(JOB, SPEC, { ts: 1 }), F.jobSubmitted(JOB, F.sumSpec(1, 10, 2), { ts: 2 }))
    expect(log.rejectedReasons.at(-1)).toBe(`JobSubmitted: job ${JOB} was already submitted`)
    expect(job(log).count).toBe(4)
    log.apply(F.tasksScheduled(JOB, 5))
    expect(log.rejectedReasons.at(-1)).toBe(`TasksScheduled: job ${JOB} has 4 tasks, not 5`)
    const rejected = log.state.rejectedCount
    log.apply(F.tasksScheduled(JOB, 4, { ts: 1100 }), F.tasksScheduled(JOB, 4, { ts: 1200 }))
    expect(log.state.rejectedCount).toBe(rejected)
    expect(job(log).startedAt).toBe(1100)
    log.apply(F.tasksScheduled("j-x", 4))
    expect(log.rejectedReasons.at(-1)).toBe("TasksScheduled: unknown job j-x")
  })

  it("a lease that overtakes its job's TasksScheduled starts the job; the late TasksScheduled is moot", () => {
    const log = new F.Log().apply(F.coordinatorElected(1), F.jobSubmitted(JOB, SPEC, { ts: 1 }), F.workerJoined("w1", 4))
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 0, attempt: 1 }], { ts: 1500 }))
    expect(job(log)).toMatchObject({ phase: "running", startedAt: 1500 })
    expect(job(log).running.size).toBe(1)
    log.apply(F.tasksScheduled(JOB, 4, { ts: 1400 }))
    expect(log.state.rejectedCount).toBe(0)
    expect(job(log).running.size).toBe(1)
  })

  it("ProgressBeat raises the progress of the holder's run only", () => {
    const log = running().apply(lease("w1", 0))
    const beat = (workerId: string, progress: number, ts: number) =>
      F.progressBeat(workerId, [{ jobId: JOB, index: 0, attempt: 1, progress }], { ts })
    log.apply(beat("w1", 0.5, 1300))
    expect(job(log).running.get(runKey(0, 1))).toMatchObject({ progress: 0.5, progressAt: 1300 })
    log.apply(beat("w1", 0.25, 1400)) // never backwards
    expect(job(log).running.get(runKey(0, 1))).toMatchObject({ progress: 0.5, progressAt: 1300 })
    log.apply(beat("w2", 0.9, 1500)) // not the holder
    expect(job(log).running.get(runKey(0, 1))).toMatchObject({ progress: 0.5, progressAt: 1300 })
    expect(worker(log, "w2").lastEventAt).toBe(1500)
    expect(log.state.rejectedCount).toBe(0)
  })
})

describe("lease renewal, copies and aborts", () => {
  const leaseMs = SPEC.leaseMs // 10 s by default

  it("a ProgressBeat renews the holder's lease to max(deadline, ts + leaseMs)", () => {
    const log = running().apply(F.taskLeased("w1", [{ jobId: JOB, index: 0, attempt: 1 }], { ts: 1100, deadline: 1100 + leaseMs }))
    const run = () => job(log).running.get(runKey(0, 1))!
    expect(run().deadline).toBe(1100 + leaseMs)
    log.apply(F.progressBeat("w1", [{ jobId: JOB, index: 0, attempt: 1, progress: 0.1 }], { ts: 5000 }))
    expect(run().deadline).toBe(5000 + leaseMs)
    log.apply(F.progressBeat("w1", [{ jobId: JOB, index: 0, attempt: 1, progress: 0.1 }], { ts: 4000 })) // reordered: no shortening
    expect(run().deadline).toBe(5000 + leaseMs)
    log.apply(F.progressBeat("w2", [{ jobId: JOB, index: 0, attempt: 1, progress: 0.9 }], { ts: 9000 })) // not the holder
    expect(run()).toMatchObject({ deadline: 5000 + leaseMs, progress: 0.1, progressAt: 5000 })
    // The leaseMs of the job's own spec counts.
    const short = new F.Log().apply(
      F.coordinatorElected(1),
      F.workerJoined("w1", 1),
      F.jobSubmitted("short", F.sumSpec(1, 10, 1, { leaseMs: 250 })),
      F.tasksScheduled("short", 1),
      F.taskLeased("w1", [{ jobId: "short", index: 0, attempt: 1 }], { ts: 1000, deadline: 1250 }),
      F.progressBeat("w1", [{ jobId: "short", index: 0, attempt: 1, progress: 0 }], { ts: 1200 })
    )
    expect(short.state.jobs.get("short")!.running.get(runKey(0, 1))?.deadline).toBe(1450)
  })

  it("a speculative lease is marked on its run and runs next to the original", () => {
    const log = running().apply(lease("w1", 0), F.taskLeased("w2", [{ jobId: JOB, index: 0, attempt: 2, speculative: true }], { ts: 1150 }))
    expect(job(log).running.get(runKey(0, 1))?.speculative).toBe(false)
    expect(job(log).running.get(runKey(0, 2))).toMatchObject({ workerId: "w2", speculative: true, leasedAt: 1150 })
    expect(job(log).attempts[0]).toBe(2)
    expect(job(log).status[0]).toBe(TaskStatus.Running)
    expect(worker(log, "w2").leases.has(leaseKey(JOB, 0, 2))).toBe(true)
  })

  it("when a task completes, its other running attempts are superseded; a release or the end of the job clears them", () => {
    const log = running().apply(lease("w1", 0), F.taskLeased("w2", [{ jobId: JOB, index: 0, attempt: 2, speculative: true }], { ts: 1150 }))
    log.apply(result("w2", 0, 2))
    expect([...job(log).superseded]).toEqual([runKey(0, 1)])
    expect(job(log).running.has(runKey(0, 1))).toBe(true)
    expect(job(log).recentMs).toEqual([10]) // the winner's duration only
    log.apply(result("w1", 0, 1)) // its late result: a duplicate that releases it
    expect(job(log).superseded.size).toBe(0)
    expect(job(log).running.size).toBe(0)
    expect(job(log)).toMatchObject({ done: 1, duplicates: 1 })
    expect(job(log).recentMs).toEqual([10])
    // The end of a job clears whatever is still superseded.
    const ended = running().apply(lease("w1", 1), F.taskLeased("w2", [{ jobId: JOB, index: 1, attempt: 2, speculative: true }]), result("w2", 1, 2))
    expect(job(ended).superseded.size).toBe(1)
    ended.apply(F.jobCancelled(JOB, "enough"))
    expect(job(ended).superseded.size).toBe(0)
    expect(worker(ended, "w1").leases.size).toBe(0)
  })

  it("TaskReclaimed must name the worker that holds the attempt", () => {
    const log = running().apply(lease("w1", 0), F.taskLeased("w2", [{ jobId: JOB, index: 0, attempt: 2, speculative: true }], { ts: 1150 }))
    log.apply(F.taskReclaimed(JOB, 0, 1, "stalled", {}, "w2"))
    expect(log.rejectedReasons).toEqual([`TaskReclaimed: task 0 attempt 1 of ${JOB} is not running on w2`])
    expect(job(log).running.size).toBe(2)
    // Reclaiming the original while its copy runs needs no decision: the copy carries on.
    log.apply(F.taskReclaimed(JOB, 0, 1, "stalled", {}, "w1"))
    expect(job(log).status[0]).toBe(TaskStatus.Running)
    expect(job(log).needsDecision.size).toBe(0)
    expect(job(log).orphans.get(runKey(0, 1))).toBe("w1")
    expect(job(log).failures).toBe(1)
    // Reclaiming the copy too: now the task awaits a decision.
    log.apply(F.taskReclaimed(JOB, 0, 2, "lease expired", {}, "w2"))
    expect(job(log).status[0]).toBe(TaskStatus.NeedsDecision)
    expect(job(log).needsDecision.get(0)).toEqual({ attempt: 2, error: "reclaimed: lease expired", retryable: true })
  })

  it("AttemptAborted releases the run without an orphan; the last attempt of an unfinished task fails", () => {
    const log = running().apply(lease("w1", 0), F.taskLeased("w2", [{ jobId: JOB, index: 0, attempt: 2, speculative: true }], { ts: 1150 }))
    log.apply(F.attemptAborted("w2", JOB, 0, 2, "not needed"))
    expect(job(log).running.has(runKey(0, 2))).toBe(false)
    expect(worker(log, "w2").leases.size).toBe(0)
    expect(job(log).orphans.size).toBe(0)
    expect(job(log).status[0]).toBe(TaskStatus.Running) // the original still runs
    expect(job(log).needsDecision.size).toBe(0)
    log.apply(F.attemptAborted("w1", JOB, 0, 1, "operator"))
    expect(job(log).status[0]).toBe(TaskStatus.NeedsDecision)
    expect(job(log).needsDecision.get(0)).toEqual({ attempt: 1, error: "aborted: operator", retryable: true })
    // An aborted attempt's late result is not an orphan's: it is set aside (no one holds it).
    log.apply(result("w1", 0, 1))
    expect(log.rejectedReasons.at(-1)).toBe(`TaskCompleted: result for task 0 attempt 1 of ${JOB} from w1, which does not hold it`)
    expect(job(log).done).toBe(0)
  })

  it("the new state (speculative runs, superseded attempts, recent durations) is part of the digest", () => {
    const copyOf = (speculative: boolean) => running().apply(lease("w1", 0), F.taskLeased("w2", [{ jobId: JOB, index: 0, attempt: 2, speculative }], { ts: 1150 }))
    expect(stateDigest(copyOf(true).state)).not.toBe(stateDigest(copyOf(false).state))
    const won = (ms: number) => copyOf(true).apply(F.taskCompleted("w2", [{ jobId: JOB, index: 0, attempt: 2, result: ANSWERS[0], ms }], { ts: 1200 }))
    expect(stateDigest(won(10).state)).toBe(stateDigest(won(10).state))
    expect(stateDigest(won(10).state)).not.toBe(stateDigest(won(11).state))
    const aborted = won(10).apply(F.attemptAborted("w1", JOB, 0, 1))
    expect(stateDigest(aborted.state)).not.toBe(stateDigest(won(10).state))
  })
})

describe("bookkeeping", () => {
  it("recentRejected is bounded and keeps the newest", () => {
    const log = new F.Log()
    for (let i = 0; i < RECENT_REJECTED_LIMIT + 10; i++) log.apply(F.tasksScheduled(`j${i}`, 1))
    expect(log.state.rejectedCount).toBe(RECENT_REJECTED_LIMIT + 10)
    expect(log.state.recentRejected).toHaveLength(RECENT_REJECTED_LIMIT)
    expect(log.state.recentRejected[0]?.seq).toBe(11)
    expect(log.state.recentRejected.at(-1)?.seq).toBe(RECENT_REJECTED_LIMIT + 10)
  })

  it("foldMessage folds undecodable bytes as set aside, and decodable ones like applyEvent", () => {
    const state = emptyState()
    const bad = foldMessage(state, 1, new TextEncoder().encode("garbage"))
    expect(bad.ok).toBe(false)
    expect(state).toMatchObject({ seq: 1, rejectedCount: 1, eventsApplied: 0 })
    expect(state.recentRejected[0]?.reason).toMatch(/^not valid JSON/)
    const good = foldMessage(state, 2, encodeEvent(F.coordinatorElected(1)))
    expect(good.ok).toBe(true)
    expect(state).toMatchObject({ seq: 2, epoch: 1, eventsApplied: 1, rejectedCount: 1 })
  })

  it("lastTs never goes backwards", () => {
    const log = new F.Log().apply(F.coordinatorElected(1, { ts: 5000 }), F.jobSubmitted(JOB, SPEC, { ts: 4000 }))
    expect(log.state.lastTs).toBe(5000)
  })
})

describe("determinism", () => {
  /** A long history: two jobs, failures, a retry, a lost worker, an orphan, duplicates, a takeover. */
  const history = (): DtqEvent[] => {
    const spec2 = F.sumsqSpec(-50, 49, 6)
    return [
      F.coordinatorElected(1, { ts: 1000 }),
      F.workerJoined("w1", 3, { ts: 1001 }),
      F.workerJoined("w2", 3, { ts: 1002 }),
      F.jobSubmitted(JOB, SPEC, { ts: 1003 }),
      F.jobSubmitted("j-2", spec2, { ts: 1004 }),
      F.tasksScheduled(JOB, 4, { ts: 1005 }),
      F.tasksScheduled("j-2", 6, { ts: 1006 }),
      F.taskLeased("w1", [0, 1, 2].map((index) => ({ jobId: JOB, index, attempt: 1 })), { ts: 1007 }),
      F.taskLeased("w2", [{ jobId: JOB, index: 3, attempt: 1 }, ...[0, 1].map((index) => ({ jobId: "j-2", index, attempt: 1 }))], { ts: 1008 }),
      F.progressBeat("w1", [{ jobId: JOB, index: 0, attempt: 1, progress: 0.3 }], { ts: 1009 }),
      F.taskCompleted("w1", [{ jobId: JOB, index: 0, attempt: 1, result: ANSWERS[0], ms: 3 }], { ts: 1010 }),
      F.taskFailed("w1", [{ jobId: JOB, index: 1, attempt: 1, error: "flaky", retryable: true }], { ts: 1011 }),
      F.retryScheduled(JOB, 1, 1, 1200, { ts: 1012 }),
      F.workerLost("w2", { ts: 1013 }),
      F.coordinatorElected(2, { ts: 1014, by: "c2" }),
      F.jobCompleted(JOB, "stale", { ts: 1015, epoch: 1 }), // fenced
      F.taskCompleted("w2", [{ jobId: "j-2", index: 0, attempt: 1, result: F.answer(spec2, 0), ms: 4 }], { ts: 1016 }), // orphan wins
      F.retryScheduled(JOB, 3, 1, 1300, { ts: 1017, epoch: 2, by: "c2" }),
      F.retryScheduled("j-2", 1, 1, 1300, { ts: 1018, epoch: 2, by: "c2" }),
      F.taskLeased("w1", [{ jobId: JOB, index: 1, attempt: 2 }, { jobId: JOB, index: 3, attempt: 2 }], { ts: 1019, epoch: 2, by: "c2" }),
      F.taskCompleted("w1", [1, 3].map((index) => ({ jobId: JOB, index, attempt: 2, result: ANSWERS[index], ms: 2 })), { ts: 1020 }),
      F.taskCompleted("w1", [{ jobId: JOB, index: 2, attempt: 1, result: ANSWERS[2], ms: 2 }], { ts: 1021 }),
      F.taskCompleted("w2", [{ jobId: JOB, index: 3, attempt: 1, result: ANSWERS[3], ms: 9 }], { ts: 1022 }), // duplicate
      F.jobCompleted(JOB, "5050", { ts: 1023, epoch: 2, by: "c2" }),
      F.jobCancelRequested("j-2", "enough", { ts: 1024 })
    ]
  }

  it("the history folds as expected", () => {
    const state = F.foldAll(history())
    const j1 = state.jobs.get(JOB)!
    expect(j1).toMatchObject({ phase: "completed", result: "5050", done: 4, sum: 5050n, duplicates: 1 })
    const j2 = state.jobs.get("j-2")!
    expect(j2).toMatchObject({ phase: "running", done: 1, cancelRequested: "enough" })
    expect(state).toMatchObject({ epoch: 2, leaderId: "c2", fencedCount: 1, rejectedCount: 1, duplicateResults: 1 })
  })

  it("folding the same events into two fresh states gives the same digest", () => {
    const events = history()
    const a = F.foldAll(events)
    const b = F.foldAll(events)
    expect(stateDigest(a)).toMatch(/^[0-9a-f]{64}$/)
    expect(stateDigest(b)).toBe(stateDigest(a))
    // Also after a trip through the wire form.
    const c = emptyState()
    events.forEach((event, i) => {
      const decoded = decodeEvent(encodeEvent(event))
      if (!decoded.ok) throw new Error(decoded.reason)
      applyEvent(c, i + 1, decoded.event)
    })
    expect(stateDigest(c)).toBe(stateDigest(a))
    // And for a freshly built (different event ids) but otherwise identical history.
    expect(stateDigest(F.foldAll(history()))).toBe(stateDigest(a))
  })

  it("the digest does not change by computing it, and does change as events are folded", () => {
    const events = history()
    const state = emptyState()
    const digests = new Set<string>([stateDigest(state)])
    events.forEach((event, i) => {
      applyEvent(state, i + 1, event)
      const d = stateDigest(state)
      expect(stateDigest(state)).toBe(d)
      digests.add(d)
    })
    expect(digests.size).toBe(events.length + 1)
  })

  it("changing one event changes the digest", () => {
    const base = stateDigest(F.foldAll(history()))
    const variants: Array<(events: DtqEvent[]) => DtqEvent[]> = [
      // A different result value.
      (events) =>
        events.map((e) =>
          e.type === "TaskCompleted" && e.results[0]?.index === 0 && e.results[0].jobId === JOB
            ? F.taskCompleted("w1", [{ jobId: JOB, index: 0, attempt: 1, result: "1", ms: 3 }], { ts: e.ts })
            : e
        ),
      // A different timestamp (of the TasksScheduled of the first job: its startedAt).
      (events) => events.map((e, i) => (i === 5 ? { ...e, ts: e.ts + 1 } : e)),
      // A different error message.
      (events) => events.map((e) => (e.type === "TaskFailed" ? { ...e, failures: e.failures.map((f) => ({ ...f, error: "other" })) } : e)),
      // A different worker slot count.
      (events) => events.map((e) => (e.type === "WorkerJoined" && e.workerId === "w1" ? { ...e, slots: 4 } : e)),
      // A different cancel reason.
      (events) => events.map((e) => (e.type === "JobCancelRequested" ? { ...e, reason: "other" } : e))
    ]
    variants.forEach((variant, i) => expect(stateDigest(F.foldAll(variant(history()))), `variant ${i}`).not.toBe(base))
  })
})
