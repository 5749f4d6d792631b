// Speculative copies of stragglers, with an explicit clock: `now` is a parameter of speculativeCopies and
// plan, and results are folded with their own timestamps. Nothing here sleeps.
import { describe, expect, it } from "vitest"
import { expiredAttempts } from "../../src/coordinator/lease-expiry.ts"
import { plan, type Draft } from "../../src/coordinator/scheduler.ts"
import { median, speculativeCopies, stragglerThresholdMs } from "../../src/coordinator/speculation.ts"
import { taskInput, type ResolvedSpec } from "../../src/domain/job-spec.ts"
import { RECENT_DURATIONS, runKey, TaskStatus } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"
import { cluster, completed, decideAndFold, InFlight, JOB, jobOf, leasesOf, ofType, options, publish, workerOf, type WorkerSetup } from "./sim.ts"

const T0 = 50_000

/** The speculation policy of these tests, explicit so that they do not depend on the defaults. */
const POLICY = { speculation: true, speculationQuantile: 0.75, speculationMultiplier: 1.5, speculationMinMs: 1000, maxSpeculative: 4 }

/**
 * A job of 8 tasks. w1 runs tasks 0 and 1 (leased at T0, never finishing); w2 runs 2..4 in 200 ms each,
 * w3 runs 5..7 in 100 ms each. `done` of those six results are folded (w3's first).
 */
const stragglers = (
  extra: Record<string, unknown> = {},
  workers: Record<string, WorkerSetup> = { w1: 2, w2: 4, w3: 4 },
  done = 6
) => {
  const spec = F.sumSpec(1, 80, 8, { ...POLICY, ...extra })
  const log = cluster(spec, workers)
  const lease = (workerId: string, indexes: number[], ts = T0) =>
    F.taskLeased(workerId, indexes.map((index) => ({ jobId: JOB, index, attempt: 1 })), { ts, deadline: ts + spec.leaseMs })
  log.apply(lease("w1", [0, 1]), lease("w2", [2, 3, 4]), lease("w3", [5, 6, 7]))
  const results: Array<[string, number, number]> = [
    ["w3", 5, 100],
    ["w3", 6, 100],
    ["w3", 7, 100],
    ["w2", 2, 200],
    ["w2", 3, 200],
    ["w2", 4, 200]
  ]
  for (const [workerId, index, ms] of results.slice(0, done)) log.apply(completed(log, workerId, index, 1, T0 + ms, ms))
  return { log, spec, inFlight: new InFlight() }
}

const copy = (spec: ResolvedSpec, workerId: string, index: number, now: number, attempt = 2): Draft => ({
  type: "TaskLeased",
  workerId,
  leases: [{ jobId: JOB, index, attempt, kind: spec.kind, input: taskInput(spec, index), deadline: now + spec.leaseMs, speculative: true }]
})

/** [workerId, index, attempt] of each speculative lease drafted. */
const copiesOf = (drafts: ReadonlyArray<Draft>): Array<[string, number, number]> =>
  leasesOf(drafts).flatMap((d) => d.leases.map((l): [string, number, number] => {
    expect(l.speculative).toBe(true)
    return [d.workerId, l.index, l.attempt]
  }))

describe("median and the straggler threshold", () => {
  it("median of odd and even counts, unsorted input, not mutated", () => {
    expect(median([])).toBeUndefined()
    expect(median([7])).toBe(7)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    const values = [5, 1, 3]
    expect(median(values)).toBe(3)
    expect(values).toEqual([5, 1, 3])
    expect(median([10, 10, 1000])).toBe(10) // a median, not a mean: one slow task does not move it
  })

  it("is undefined until ceil(quantile x count) tasks are done", () => {
    // 8 tasks at quantile 0.75: 6 must be done.
    expect(stragglerThresholdMs(jobOf(stragglers({}, undefined, 5).log))).toBeUndefined()
    expect(stragglerThresholdMs(jobOf(stragglers({}, undefined, 6).log))).toBe(1000)
    // Quantile 0.5: 4 are enough; 0.3 x 8 = 2.4 rounds up to 3.
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationQuantile: 0.5 }, undefined, 3).log))).toBeUndefined()
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationQuantile: 0.5 }, undefined, 4).log))).toBe(1000)
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationQuantile: 0.3 }, undefined, 2).log))).toBeUndefined()
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationQuantile: 0.3 }, undefined, 3).log))).toBe(1000)
    // Quantile 0 still needs one finished task to know what "typical" is.
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationQuantile: 0 }, undefined, 0).log))).toBeUndefined()
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationQuantile: 0, speculationMinMs: 0 }, undefined, 1).log))).toBe(150)
  })

  it("is max(speculationMinMs, speculationMultiplier x the median task time)", () => {
    // Durations 100, 100, 100, 200, 200, 200: median 150.
    expect(stragglerThresholdMs(jobOf(stragglers().log))).toBe(1000) // 1.5 x 150 = 225 < 1000
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationMinMs: 0 }).log))).toBe(225)
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationMinMs: 200 }).log))).toBe(225)
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationMinMs: 226 }).log))).toBe(226)
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationMinMs: 0, speculationMultiplier: 4 }).log))).toBe(600)
    expect(stragglerThresholdMs(jobOf(stragglers({ speculationMinMs: 0, speculationMultiplier: 1 }).log))).toBe(150)
  })

  it("is undefined when speculation is off", () => {
    expect(stragglerThresholdMs(jobOf(stragglers({ speculation: false }).log))).toBeUndefined()
  })

  it("the median follows the latest RECENT_DURATIONS durations (a ring)", () => {
    expect(RECENT_DURATIONS).toBe(501)
    const n = 600
    const spec = F.sumSpec(1, 10_000, n, { ...POLICY, speculationMinMs: 0, speculationMultiplier: 1 })
    const log = cluster(spec, { w1: n })
    log.apply(F.taskLeased("w1", Array.from({ length: n }, (_, index) => ({ jobId: JOB, index, attempt: 1 })), { ts: T0 }))
    // Task i takes i ms (0 .. 599), reported in order.
    for (let index = 0; index < n; index++) log.apply(completed(log, "w1", index, 1, T0 + index, index))
    const job = jobOf(log)
    expect(job.recentMs).toHaveLength(RECENT_DURATIONS)
    expect(job.recentMsNext).toBe(n % RECENT_DURATIONS)
    expect(Math.min(...job.recentMs)).toBe(n - RECENT_DURATIONS) // 0 .. 98 were overwritten
    expect([...job.recentMs].sort((a, b) => a - b)).toEqual(Array.from({ length: RECENT_DURATIONS }, (_, i) => n - RECENT_DURATIONS + i))
    expect(median(job.recentMs)).toBe(349)
    expect(stragglerThresholdMs(job)).toBe(349)
  })
})

describe("speculativeCopies: when", () => {
  it("no copy before the quantile is reached, however long the stragglers run", () => {
    const { log, inFlight, spec } = stragglers({}, undefined, 5)
    expect(speculativeCopies(log.state, inFlight, T0 + 10_000_000)).toEqual([])
    log.apply(completed(log, "w2", 4, 1, T0 + 200, 200)) // the 6th result
    expect(speculativeCopies(log.state, inFlight, T0 + 10_000)).toEqual([copy(spec, "w3", 0, T0 + 10_000), copy(spec, "w3", 1, T0 + 10_000)])
  })

  it("an attempt is a straggler once it has run longer than the threshold", () => {
    const { log, inFlight, spec } = stragglers()
    expect(speculativeCopies(log.state, inFlight, T0 + 999)).toEqual([])
    expect(speculativeCopies(log.state, inFlight, T0 + 1000)).toEqual([])
    expect(speculativeCopies(log.state, inFlight, T0 + 1001)).toEqual([copy(spec, "w3", 0, T0 + 1001), copy(spec, "w3", 1, T0 + 1001)])
  })

  it("with a low speculationMinMs the multiplier decides", () => {
    const { log, inFlight } = stragglers({ speculationMinMs: 0 })
    expect(speculativeCopies(log.state, inFlight, T0 + 225)).toEqual([])
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 226))).toEqual([
      ["w3", 0, 2],
      ["w3", 1, 2]
    ])
  })

  it("the age of an attempt counts from its own lease", () => {
    const { log, inFlight, spec } = stragglers({ speculationMinMs: 0 })
    // Task 1 is retried: its second attempt is leased at T0 + 2000.
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 1, attempt: 1, error: "boom", retryable: true }], { ts: T0 + 1500 }))
    log.apply(F.retryScheduled(JOB, 1, 1, T0 + 1600, { ts: T0 + 1500 }))
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 1, attempt: 2 }], { ts: T0 + 2000 }))
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 2225))).toEqual([["w3", 0, 2]])
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 2226))).toEqual([
      ["w3", 0, 2],
      ["w3", 1, 3]
    ])
    expect(speculativeCopies(log.state, inFlight, T0 + 2226)[1]).toEqual(copy(spec, "w3", 1, T0 + 2226, 3))
  })

  it("speculation: false disables copies", () => {
    const { log, inFlight } = stragglers({ speculation: false })
    expect(speculativeCopies(log.state, inFlight, T0 + 10_000_000)).toEqual([])
  })

  it("nothing for finished jobs or jobs without running attempts", () => {
    const { log, inFlight } = stragglers()
    log.apply(F.jobCancelRequested(JOB), F.jobCancelled(JOB, "by request", { ts: T0 + 500 }))
    expect(speculativeCopies(log.state, inFlight, T0 + 10_000)).toEqual([])
  })
})

describe("speculativeCopies: where", () => {
  it("prefers the worker with the lowest mean task time", () => {
    const { log, inFlight } = stragglers()
    expect(workerOf(log, "w3").taskMsTotal / workerOf(log, "w3").completed).toBe(100)
    expect(workerOf(log, "w2").taskMsTotal / workerOf(log, "w2").completed).toBe(200)
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 5000)).map(([w]) => w)).toEqual(["w3", "w3"])
  })

  it("only a free running slot counts, not room in the prefetch queue; copies of one call add up", () => {
    // w3 has one running slot and a prefetch of 3: one copy fits, the next goes to the slower w2.
    const { log, inFlight } = stragglers({}, { w1: 2, w2: 4, w3: { slots: 1, prefetch: 3 } })
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 5000))).toEqual([
      ["w3", 0, 2],
      ["w2", 1, 2]
    ])
    // With w3's slot busy (a task of another job), its prefetch room does not make it a target.
    log.apply(F.jobSubmitted("j-2", F.sumSpec(1, 10, 1), { ts: T0 }), F.tasksScheduled("j-2", 1, { ts: T0 }))
    log.apply(F.taskLeased("w3", [{ jobId: "j-2", index: 0, attempt: 1 }], { ts: T0 + 300 }))
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 5000))).toEqual([
      ["w2", 0, 2],
      ["w2", 1, 2]
    ])
  })

  it("leases in flight to a worker take its slots", () => {
    const { log, inFlight } = stragglers()
    inFlight.hold({ type: "TaskLeased", workerId: "w3", leases: [1, 2, 3, 4].map((index) => ({ jobId: "j-x", index, attempt: 1, kind: "sum", input: {}, deadline: 0 })) })
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 5000)).map(([w]) => w)).toEqual(["w2", "w2"])
  })

  it("never on the straggler's own worker, nor on a draining, left, lost or being-lost worker", () => {
    // w1 has two free slots of its own: not a target for copies of its own attempts.
    const { log, inFlight } = stragglers({}, { w1: 4, w2: 4, w3: 4, w4: 4, w5: 4 })
    log.apply(F.workerDraining("w2"), F.workerLeft("w3"), F.workerLost("w4"))
    inFlight.hold({ type: "WorkerLost", workerId: "w5", reason: "no heartbeat" })
    expect(speculativeCopies(log.state, inFlight, T0 + 10_000)).toEqual([])
  })

  // The only worker with room is the oldest straggler's own: that straggler gets no copy, but a younger
  // straggler on another worker should still get one there.
  it("a straggler whose only candidate is its own worker does not stop the search for the other stragglers", () => {
    const { log, inFlight } = stragglers({}, { w1: 2, w2: 4, w3: 4 })
    // w2 and w3 fill up with another job's tasks; task 1 moves from w1 to w2 (attempt 2, leased later).
    log.apply(F.jobSubmitted("j-2", F.sumSpec(1, 10, 7), { ts: T0 }), F.tasksScheduled("j-2", 7, { ts: T0 }))
    log.apply(F.taskLeased("w2", [0, 1, 2].map((index) => ({ jobId: "j-2", index, attempt: 1 })), { ts: T0 + 300 }))
    log.apply(F.taskLeased("w3", [3, 4, 5, 6].map((index) => ({ jobId: "j-2", index, attempt: 1 })), { ts: T0 + 300 }))
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 1, attempt: 1, error: "boom", retryable: true }], { ts: T0 + 400 }))
    log.apply(F.retryScheduled(JOB, 1, 1, T0 + 400, { ts: T0 + 400 }))
    log.apply(F.taskLeased("w2", [{ jobId: JOB, index: 1, attempt: 2 }], { ts: T0 + 500 }))
    // Now: w1 runs task 0 (since T0) and has one free slot; w2 runs task 1 (since T0 + 500) and is full; w3 is full.
    expect(workerOf(log, "w1").leases.size).toBe(1)
    expect(workerOf(log, "w2").leases.size).toBe(4)
    expect(workerOf(log, "w3").leases.size).toBe(4)
    // Both are stragglers at T0 + 5000; task 0 has nowhere to go but task 1 can go to w1.
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 5000))).toEqual([["w1", 1, 3]])
  })

  it("stops when no worker has a free running slot", () => {
    const { log, inFlight } = stragglers({}, { w1: 2, w2: 3, w3: 3 })
    // w2 and w3 are full with another job's tasks.
    log.apply(F.jobSubmitted("j-2", F.sumSpec(1, 10, 6), { ts: T0 }), F.tasksScheduled("j-2", 6, { ts: T0 }))
    log.apply(F.taskLeased("w2", [0, 1, 2].map((index) => ({ jobId: "j-2", index, attempt: 1 })), { ts: T0 + 300 }))
    log.apply(F.taskLeased("w3", [3, 4, 5].map((index) => ({ jobId: "j-2", index, attempt: 1 })), { ts: T0 + 300 }))
    expect(speculativeCopies(log.state, inFlight, T0 + 10_000)).toEqual([])
  })
})

describe("speculativeCopies: how many", () => {
  it("one copy per task: not again while in flight, nor once folded", () => {
    const { log, inFlight } = stragglers()
    const drafts = speculativeCopies(log.state, inFlight, T0 + 2000)
    expect(copiesOf(drafts)).toEqual([
      ["w3", 0, 2],
      ["w3", 1, 2]
    ])
    const releases = drafts.map((d) => inFlight.hold(d))
    expect(speculativeCopies(log.state, inFlight, T0 + 2001)).toEqual([])
    for (const d of drafts) log.apply(F.draftEvent(d, { ts: T0 + 2000 }))
    for (const release of releases) release()
    expect(log.state.rejectedCount).toBe(0)
    const job = jobOf(log)
    expect(job.running.get(runKey(0, 2))).toMatchObject({ workerId: "w3", speculative: true, leasedAt: T0 + 2000 })
    expect(job.running.get(runKey(0, 1))).toMatchObject({ workerId: "w1", speculative: false })
    expect([...job.attempts.slice(0, 2)]).toEqual([2, 2])
    // Even when the copies straggle too, a task never gets a third concurrent attempt.
    expect(speculativeCopies(log.state, inFlight, T0 + 1_000_000)).toEqual([])
  })

  it("at most maxSpeculative copies run at once, the oldest straggler first", () => {
    const { log, inFlight, spec } = stragglers({ maxSpeculative: 1 })
    // Task 1 is the older straggler here: re-lease it earlier than task 0 (attempt 2 after a failure).
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 1, attempt: 1, error: "boom", retryable: true }], { ts: T0 + 10 }))
    log.apply(F.retryScheduled(JOB, 1, 1, T0 + 10, { ts: T0 + 10 }))
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 1, attempt: 2 }], { ts: T0 - 500 }))
    const first = speculativeCopies(log.state, inFlight, T0 + 5000)
    expect(first).toEqual([copy(spec, "w3", 1, T0 + 5000, 3)])
    publish(log, inFlight, first, T0 + 5000)
    // The cap is reached: task 0 must wait.
    expect(speculativeCopies(log.state, inFlight, T0 + 6000)).toEqual([])
    // The copy wins: the original is superseded (still running until aborted) but it is not a copy,
    // so task 0 may now get one.
    log.apply(completed(log, "w3", 1, 3, T0 + 6100, 100))
    expect([...jobOf(log).superseded]).toEqual([runKey(1, 2)])
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 6200))).toEqual([["w3", 0, 2]])
  })

  it("maxSpeculative 0 means no copies", () => {
    const { log, inFlight } = stragglers({ maxSpeculative: 0 })
    expect(speculativeCopies(log.state, inFlight, T0 + 10_000_000)).toEqual([])
  })

  it("caps the copies per job, not per cluster", () => {
    const { log, inFlight } = stragglers({ maxSpeculative: 1 }, { w1: 4, w2: 8, w3: 8 })
    // A second job, with the same shape, also straggling on w1.
    const spec2 = F.sumSpec(1, 80, 8, { ...POLICY, maxSpeculative: 1 })
    log.apply(F.jobSubmitted("j-2", spec2, { ts: T0 }), F.tasksScheduled("j-2", 8, { ts: T0 }))
    log.apply(F.taskLeased("w1", [0, 1].map((index) => ({ jobId: "j-2", index, attempt: 1 })), { ts: T0 }))
    log.apply(F.taskLeased("w2", [2, 3, 4, 5, 6, 7].map((index) => ({ jobId: "j-2", index, attempt: 1 })), { ts: T0 }))
    log.apply(F.taskCompleted("w2", [2, 3, 4, 5, 6, 7].map((index) => ({ jobId: "j-2", index, attempt: 1, result: F.answer(spec2, index), ms: 100 })), { ts: T0 + 100 }))
    const drafts = speculativeCopies(log.state, inFlight, T0 + 5000)
    expect(leasesOf(drafts).flatMap((d) => d.leases.map((l) => `${l.jobId}:${l.index}`))).toEqual([`${JOB}:0`, "j-2:0"])
  })

  // The cap must hold while a copy travels through the log, like every other decision (the InFlight overlay).
  it("a copy in flight counts against maxSpeculative, so a second tick does not exceed the cap", () => {
    const { log, inFlight } = stragglers({ maxSpeculative: 1 })
    const first = speculativeCopies(log.state, inFlight, T0 + 5000)
    expect(copiesOf(first)).toEqual([["w3", 0, 2]])
    const releases = first.map((d) => inFlight.hold(d)) // published, not yet folded
    const second = speculativeCopies(log.state, inFlight, T0 + 5100) // the next tick
    publish(log, inFlight, [...first, ...second], T0 + 5100)
    for (const release of releases) release()
    const speculativeRuns = [...jobOf(log).running.values()].filter((r) => r.speculative).length
    expect(speculativeRuns).toBeLessThanOrEqual(1)
  })
})

describe("after a copy wins or loses", () => {
  /** Copies of tasks 0 and 1 on w3, folded at T0 + 2000. */
  const withCopies = () => {
    const s = stragglers()
    publish(s.log, s.inFlight, speculativeCopies(s.log.state, s.inFlight, T0 + 2000), T0 + 2000)
    expect(jobOf(s.log).running.size).toBe(4)
    return s
  }

  it("the copy wins: the original is superseded, plan drafts AttemptAborted for it, once", () => {
    const { log, inFlight } = withCopies()
    log.apply(completed(log, "w3", 0, 2, T0 + 2100, 100))
    const job = jobOf(log)
    expect(job).toMatchObject({ done: 7, duplicates: 0 })
    expect(job.status[0]).toBe(TaskStatus.Done)
    expect([...job.superseded]).toEqual([runKey(0, 1)])
    expect(job.running.has(runKey(0, 1))).toBe(true) // still running until its worker is told
    const drafts = plan(log.state, inFlight, T0 + 2100, options)
    expect(drafts).toEqual([
      { type: "AttemptAborted", workerId: "w1", jobId: JOB, index: 0, attempt: 1, reason: "another attempt finished first" }
    ])
    // In flight, it is not drafted again; nor is the superseded attempt reclaimed meanwhile.
    const releases = drafts.map((d) => inFlight.hold(d))
    expect(plan(log.state, inFlight, T0 + 2200, options)).toEqual([])
    expect(ofType(expiredAttempts(log.state, inFlight, T0 + 1_000_000, 0), "TaskReclaimed").map((d) => d.index)).not.toContain(0)
    for (const d of drafts) log.apply(F.draftEvent(d, { ts: T0 + 2100 }))
    for (const release of releases) release()
    expect(log.state.rejectedCount).toBe(0)
    expect(plan(log.state, inFlight, T0 + 2300, options)).toEqual([])
  })

  it("folding AttemptAborted frees the worker's lease without failing the task or leaving an orphan", () => {
    const { log, inFlight } = withCopies()
    log.apply(completed(log, "w3", 0, 2, T0 + 2100, 100))
    decideAndFold(log, inFlight, T0 + 2100)
    const job = jobOf(log)
    expect(job.running.has(runKey(0, 1))).toBe(false)
    expect(job.superseded.size).toBe(0)
    expect(job.orphans.size).toBe(0)
    expect(job.status[0]).toBe(TaskStatus.Done)
    expect(job.needsDecision.size).toBe(0)
    expect(job.failures).toBe(0)
    expect([...workerOf(log, "w1").leases]).toEqual([`${JOB}/1.1`])
    expect(workerOf(log, "w1").phase).toBe("live")
  })

  it("a late result of the aborted original is a duplicate; the sum is unchanged", () => {
    const { log, inFlight } = withCopies()
    log.apply(completed(log, "w3", 0, 2, T0 + 2100, 100))
    decideAndFold(log, inFlight, T0 + 2100)
    const job = jobOf(log)
    const sum = job.sum
    log.apply(completed(log, "w1", 0, 1, T0 + 9000, 9000))
    expect(job).toMatchObject({ done: 7, duplicates: 1, sum })
    expect(log.state.duplicateResults).toBe(1)
    expect(workerOf(log, "w1").completed).toBe(0) // a duplicate is not a completed task of w1
    expect(log.state.rejectedCount).toBe(0)
    // Even a wrong value from the aborted attempt changes nothing.
    log.apply(F.taskCompleted("w1", [{ jobId: JOB, index: 0, attempt: 1, result: "123456789", ms: 1 }], { ts: T0 + 9001 }))
    expect(job).toMatchObject({ done: 7, duplicates: 2, sum })
  })

  it("a result of the original that overtakes its AttemptAborted is a duplicate too, and frees the slot", () => {
    const { log, inFlight } = withCopies()
    log.apply(completed(log, "w3", 0, 2, T0 + 2100, 100))
    const aborts = plan(log.state, inFlight, T0 + 2100, options)
    const releases = aborts.map((d) => inFlight.hold(d))
    log.apply(completed(log, "w1", 0, 1, T0 + 2150, 2150))
    const job = jobOf(log)
    expect(job).toMatchObject({ done: 7, duplicates: 1 })
    expect(job.running.has(runKey(0, 1))).toBe(false)
    expect(job.superseded.size).toBe(0)
    expect(workerOf(log, "w1").leases.has(`${JOB}/0.1`)).toBe(false)
    // The AttemptAborted then finds nothing to abort: moot, a no-op (not a rejection).
    for (const d of aborts) log.apply(F.draftEvent(d, { ts: T0 + 2100 }))
    for (const release of releases) release()
    expect(log.rejectedReasons).toEqual([])
    expect(job).toMatchObject({ done: 7, duplicates: 1 })
  })

  it("the original wins: the copy is aborted", () => {
    const { log, inFlight } = withCopies()
    log.apply(completed(log, "w1", 1, 1, T0 + 2500, 2500))
    expect([...jobOf(log).superseded]).toEqual([runKey(1, 2)])
    expect(ofType(decideAndFold(log, inFlight, T0 + 2500), "AttemptAborted")).toEqual([
      { type: "AttemptAborted", workerId: "w3", jobId: JOB, index: 1, attempt: 2, reason: "another attempt finished first" }
    ])
    expect(workerOf(log, "w3").leases.has(`${JOB}/1.2`)).toBe(false)
    expect([...workerOf(log, "w3").leases]).toEqual([`${JOB}/0.2`])
    log.apply(completed(log, "w3", 1, 2, T0 + 2600, 600))
    expect(jobOf(log)).toMatchObject({ done: 7, duplicates: 1 })
  })

  it("a failed copy leaves the original running; the task may then get a new copy", () => {
    const { log, inFlight } = withCopies()
    log.apply(F.taskFailed("w3", [{ jobId: JOB, index: 0, attempt: 2, error: "copy failed", retryable: true }], { ts: T0 + 2100 }))
    const job = jobOf(log)
    expect(job.status[0]).toBe(TaskStatus.Running)
    expect(job.needsDecision.size).toBe(0)
    expect(job.failures).toBe(1)
    expect(ofType(plan(log.state, inFlight, T0 + 2100, options), "RetryScheduled")).toEqual([])
    expect(copiesOf(speculativeCopies(log.state, inFlight, T0 + 2200))).toEqual([["w3", 0, 3]])
  })

  it("a failed original leaves the copy running: no decision is needed", () => {
    const { log, inFlight } = withCopies()
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 0, attempt: 1, error: "original failed", retryable: false }], { ts: T0 + 2100 }))
    expect(jobOf(log).status[0]).toBe(TaskStatus.Running)
    expect(plan(log.state, inFlight, T0 + 2100, options)).toEqual([])
    log.apply(completed(log, "w3", 0, 2, T0 + 2200, 200))
    expect(jobOf(log)).toMatchObject({ done: 7, duplicates: 0 })
  })

  it("AttemptAborted of the last running attempt of an unfinished task fails that attempt: the task is not stranded", () => {
    const { log, inFlight } = withCopies()
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 0, attempt: 1, error: "original failed", retryable: true }], { ts: T0 + 2100 }))
    log.apply(F.attemptAborted("w3", JOB, 0, 2, "operator", { ts: T0 + 2200 }))
    const job = jobOf(log)
    expect(job.status[0]).toBe(TaskStatus.NeedsDecision)
    expect(job.needsDecision.get(0)).toEqual({ attempt: 2, error: "aborted: operator", retryable: true })
    expect(job.orphans.size).toBe(0) // an aborted attempt's result is not awaited
    expect(ofType(plan(log.state, inFlight, T0 + 2200, options), "RetryScheduled").map((d) => [d.index, d.attempt])).toEqual([[0, 2]])
  })

  it("AttemptAborted for an attempt that is not running on the named worker is set aside", () => {
    const { log } = withCopies()
    log.apply(F.attemptAborted("w2", JOB, 0, 2))
    log.apply(F.attemptAborted("w3", JOB, 0, 7))
    log.apply(F.attemptAborted("w3", "j-unknown", 0, 2))
    expect(log.rejectedReasons).toEqual([
      `AttemptAborted: task 0 attempt 2 of ${JOB} is not running on w2`,
      `AttemptAborted: task 0 attempt 7 of ${JOB} is not running on w3`,
      "AttemptAborted: unknown job j-unknown"
    ])
    expect(jobOf(log).running.size).toBe(4)
  })
})

describe("a coordinator loop with an explicit clock", () => {
  it("a job with a straggling worker completes through copies; the straggler's attempts are aborted", () => {
    // w1 takes 60 s per task, w2 and w3 take 100 ms; each tick is 100 ms. Speculation starts at a quarter
    // of the tasks, so copies win while the job still has work (and the originals must be aborted).
    const spec = F.sumSpec(1, 1000, 200, { ...POLICY, speculationMinMs: 500, speculationQuantile: 0.25 })
    const log = cluster(spec, { w1: 4, w2: 4, w3: 4 })
    const inFlight = new InFlight()
    const speed: Record<string, number> = { w1: 60_000, w2: 100, w3: 100 }
    const due: Array<{ at: number; workerId: string; index: number; attempt: number }> = []
    const aborted: string[] = []
    let copies = 0
    let now = T0
    for (let tick = 0; tick < 300 && jobOf(log).phase === "running"; tick++, now += 100) {
      for (const d of due.filter((d) => d.at <= now)) {
        if (aborted.includes(`${d.workerId}:${d.index}.${d.attempt}`)) continue // the worker dropped it
        log.apply(completed(log, d.workerId, d.index, d.attempt, now, speed[d.workerId]))
      }
      due.splice(0, due.length, ...due.filter((d) => d.at > now))
      // The coordinator's tick: copies first, then plan, each seeing the other's decisions.
      const copyDrafts = speculativeCopies(log.state, inFlight, now)
      copies += copyDrafts.length
      const drafts = [...publish(log, inFlight, copyDrafts, now), ...decideAndFold(log, inFlight, now)]
      expect([...jobOf(log).running.values()].filter((r) => r.speculative).length).toBeLessThanOrEqual(spec.maxSpeculative)
      for (const d of drafts) {
        if (d.type === "TaskLeased") for (const l of d.leases) due.push({ at: now + speed[d.workerId]!, workerId: d.workerId, index: l.index, attempt: l.attempt })
        if (d.type === "AttemptAborted") aborted.push(`${d.workerId}:${d.index}.${d.attempt}`)
      }
    }
    const job = jobOf(log)
    expect(job).toMatchObject({ phase: "completed", done: 200, result: F.answer(F.sumSpec(1, 1000, 1), 0) })
    expect(now - T0).toBeLessThan(60_000) // long before w1 would have finished anything
    expect(copies).toBeGreaterThan(0)
    expect(aborted.length).toBeGreaterThan(0)
    expect(aborted.every((a) => a.startsWith("w1:"))).toBe(true)
    expect(log.state.rejectedCount).toBe(0)
    expect(workerOf(log, "w1").leases.size).toBe(0)
  })
})
