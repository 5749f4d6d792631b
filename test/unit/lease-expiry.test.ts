// Lease expiry, stalls and the time cap, with an explicit clock: `now` and `graceSince` are plain numbers,
// beats are folded with their own timestamps. Nothing here sleeps.
import { describe, expect, it } from "vitest"
import { expiredAttempts } from "../../src/coordinator/lease-expiry.ts"
import { plan, type Draft } from "../../src/coordinator/scheduler.ts"
import { runKey, TaskStatus } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"
import {
  beat,
  cluster,
  completed,
  decideAndFold,
  foldDrafts,
  InFlight,
  JOB,
  jobOf,
  leasesOf,
  ofType,
  options,
  publish,
  workerOf
} from "./sim.ts"

const T0 = 100_000
const LEASE = 1000
const STALL = 5000
const CAP = 20_000

const specOf = (tasks: number) => F.sumSpec(1, 100, tasks, { leaseMs: LEASE, stallMs: STALL, maxTaskMs: CAP, speculation: false })

/** `tasks` tasks, all leased by plan at T0 to w1 (which has exactly that many slots); w2 is idle with `spare` slots. */
const leasedAtT0 = (tasks: number, spare = 0) => {
  const log = cluster(specOf(tasks), { w1: tasks })
  const inFlight = new InFlight()
  const drafts = decideAndFold(log, inFlight, T0)
  // w2 joins only after the first plan, so that everything starts on w1.
  if (spare > 0) log.apply(F.workerJoined("w2", spare, { ts: T0 }))
  return { log, inFlight, drafts }
}

const reclaimed = (index: number, reason: string, workerId = "w1", attempt = 1): Draft => ({
  type: "TaskReclaimed",
  workerId,
  jobId: JOB,
  index,
  attempt,
  reason
})

/** The indexes reclaimed at `now`. */
const expiredIndexes = (log: F.Log, inFlight: InFlight, now: number, graceSince = 0): number[] =>
  ofType(expiredAttempts(log.state, inFlight, now, graceSince), "TaskReclaimed").map((d) => d.index)

describe("expiredAttempts: leases and beats", () => {
  it("a lease expires leaseMs after it was granted when no beat comes", () => {
    const { log, inFlight, drafts } = leasedAtT0(4)
    expect(leasesOf(drafts).flatMap((d) => d.leases.map((l) => [d.workerId, l.index, l.deadline]))).toEqual(
      [0, 1, 2, 3].map((i) => ["w1", i, T0 + LEASE])
    )
    expect(expiredAttempts(log.state, inFlight, T0, 0)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, T0 + LEASE - 1, 0)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, T0 + LEASE, 0)).toEqual([]) // the deadline itself is still inside the lease
    expect(expiredAttempts(log.state, inFlight, T0 + LEASE + 1, 0)).toEqual(
      [0, 1, 2, 3].map((i) => reclaimed(i, "lease expired: no beat for 1001 ms"))
    )
    // The reason tells how long the silence has lasted.
    expect(expiredAttempts(log.state, inFlight, T0 + 4321, 0)[0]).toEqual(reclaimed(0, "lease expired: no beat for 4321 ms"))
  })

  it("a beat at t renews the lease until t + leaseMs", () => {
    const { log, inFlight } = leasedAtT0(4)
    log.apply(beat("w1", 0, 1, 0.1, T0 + 800))
    expect(jobOf(log).running.get(runKey(0, 1))?.deadline).toBe(T0 + 800 + LEASE)
    expect(expiredIndexes(log, inFlight, T0 + LEASE + 1)).toEqual([1, 2, 3])
    expect(expiredIndexes(log, inFlight, T0 + 1800)).toEqual([1, 2, 3])
    expect(expiredAttempts(log.state, inFlight, T0 + 1801, 0)[0]).toEqual(reclaimed(0, "lease expired: no beat for 1001 ms"))
    // A beat carrying several attempts renews each of them.
    log.apply(
      F.progressBeat("w1", [1, 2, 3].map((index) => ({ jobId: JOB, index, attempt: 1, progress: 0.2 })), { ts: T0 + 1500 })
    )
    expect(expiredIndexes(log, inFlight, T0 + 2000)).toEqual([0])
    expect(expiredIndexes(log, inFlight, T0 + 2500)).toEqual([0])
    expect(expiredIndexes(log, inFlight, T0 + 2501)).toEqual([0, 1, 2, 3])
  })

  it("beats every leaseMs/2 keep a progressing attempt alive indefinitely (short of maxTaskMs)", () => {
    const { log, inFlight } = leasedAtT0(1)
    for (let t = T0 + 500, k = 1; t < T0 + CAP; t += 500, k++) {
      expect(expiredAttempts(log.state, inFlight, t, 0), `at ${t - T0}`).toEqual([])
      log.apply(beat("w1", 0, 1, k / 100, t))
      expect(expiredAttempts(log.state, inFlight, t + 499, 0), `at ${t + 499 - T0}`).toEqual([])
    }
  })

  it("a stray, late or unknown beat neither renews nor shortens a lease", () => {
    const { log, inFlight } = leasedAtT0(1, 2)
    log.apply(beat("w2", 0, 1, 0.5, T0 + 900)) // w2 does not hold it
    log.apply(beat("w1", 0, 2, 0.5, T0 + 900)) // attempt 2 was never leased
    log.apply(F.progressBeat("w1", [{ jobId: "j-unknown", index: 0, attempt: 1, progress: 0.5 }], { ts: T0 + 900 }))
    expect(jobOf(log).running.get(runKey(0, 1))).toMatchObject({ deadline: T0 + LEASE, progress: 0, progressAt: T0 })
    expect(expiredIndexes(log, inFlight, T0 + LEASE + 1)).toEqual([0])
    // Renewed at T0 + 800, then a beat stamped earlier (reordered) must not pull the deadline back.
    log.apply(beat("w1", 0, 1, 0.1, T0 + 800), beat("w1", 0, 1, 0.1, T0 + 100))
    expect(jobOf(log).running.get(runKey(0, 1))?.deadline).toBe(T0 + 1800)
    expect(expiredIndexes(log, inFlight, T0 + 1800)).toEqual([])
    // Beats are observations: none of them was set aside as an error.
    expect(log.state.rejectedCount).toBe(0)
  })
})

describe("expiredAttempts: stalls", () => {
  it("an attempt whose progress stops advancing is reclaimed stallMs later, although its beats continue", () => {
    const { log, inFlight } = leasedAtT0(1)
    // The first beat raises the progress to 0.5 at T0 + 500; every later beat repeats 0.5.
    for (let t = T0 + 500; t <= T0 + 500 + STALL; t += 500) {
      log.apply(beat("w1", 0, 1, 0.5, t))
      expect(expiredAttempts(log.state, inFlight, t, 0), `at ${t - T0}`).toEqual([])
    }
    const run = jobOf(log).running.get(runKey(0, 1))
    expect(run).toMatchObject({ progress: 0.5, progressAt: T0 + 500, deadline: T0 + 500 + STALL + LEASE })
    // The lease is fine (renewed until T0 + 6500); the progress is not.
    expect(expiredAttempts(log.state, inFlight, T0 + 500 + STALL + 1, 0)).toEqual([reclaimed(0, "stalled: no progress for 5001 ms")])
  })

  it("beats at progress 0 (equal to the start) do not count as progress", () => {
    const { log, inFlight } = leasedAtT0(1)
    for (let t = T0 + 500; t <= T0 + STALL; t += 500) log.apply(beat("w1", 0, 1, 0, t))
    expect(jobOf(log).running.get(runKey(0, 1))).toMatchObject({ progress: 0, progressAt: T0 })
    expect(expiredAttempts(log.state, inFlight, T0 + STALL, 0)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, T0 + STALL + 1, 0)).toEqual([reclaimed(0, "stalled: no progress for 5001 ms")])
  })

  it("a lower progress does not count as progress either", () => {
    const { log, inFlight } = leasedAtT0(1)
    log.apply(beat("w1", 0, 1, 0.6, T0 + 500))
    for (let t = T0 + 1000; t <= T0 + 5500; t += 500) log.apply(beat("w1", 0, 1, 0.3, t))
    expect(jobOf(log).running.get(runKey(0, 1))).toMatchObject({ progress: 0.6, progressAt: T0 + 500 })
    expect(expiredIndexes(log, inFlight, T0 + 5500)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, T0 + 5501, 0)).toEqual([reclaimed(0, "stalled: no progress for 5001 ms")])
  })

  it("advancing progress, however small, is never a stall", () => {
    const { log, inFlight } = leasedAtT0(1)
    for (let t = T0 + 900, k = 1; t <= T0 + 3 * STALL; t += 900, k++) {
      log.apply(beat("w1", 0, 1, k / 1000, t))
      expect(expiredAttempts(log.state, inFlight, t + 899, 0), `at ${t + 899 - T0}`).toEqual([])
    }
  })

  it("the lease reason comes before the stall reason", () => {
    const { log, inFlight } = leasedAtT0(1)
    expect(expiredAttempts(log.state, inFlight, T0 + STALL + 1, 0)).toEqual([reclaimed(0, "lease expired: no beat for 5001 ms")])
  })
})

describe("expiredAttempts: maxTaskMs", () => {
  it("caps an attempt that beats and progresses", () => {
    const { log, inFlight } = leasedAtT0(1)
    for (let t = T0 + 500, k = 1; t <= T0 + CAP; t += 500, k++) log.apply(beat("w1", 0, 1, k / 100, t))
    expect(expiredAttempts(log.state, inFlight, T0 + CAP, 0)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, T0 + CAP + 1, 0)).toEqual([reclaimed(0, "ran 20001 ms, over maxTaskMs 20000")])
  })

  it("is the first reason given, ahead of an expired lease", () => {
    const { log, inFlight } = leasedAtT0(1)
    expect(expiredAttempts(log.state, inFlight, T0 + CAP, 0)).toEqual([reclaimed(0, "lease expired: no beat for 20000 ms")])
    expect(expiredAttempts(log.state, inFlight, T0 + CAP + 1, 0)).toEqual([reclaimed(0, "ran 20001 ms, over maxTaskMs 20000")])
  })

  it("counts from the lease, whatever the grace", () => {
    const { log, inFlight } = leasedAtT0(1)
    expect(expiredAttempts(log.state, inFlight, T0 + CAP + 1, T0 + CAP)).toEqual([reclaimed(0, "ran 20001 ms, over maxTaskMs 20000")])
  })
})

describe("expiredAttempts: grace after a takeover or a reconnect", () => {
  it("every lease gets a fresh leaseMs from graceSince", () => {
    const { log, inFlight } = leasedAtT0(1)
    const grace = T0 + 5000 // a new coordinator took over: nobody could beat while it was away
    expect(expiredAttempts(log.state, inFlight, T0 + 5500, grace)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, grace + LEASE, grace)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, grace + LEASE + 1, grace)).toEqual([reclaimed(0, "lease expired: no beat for 1001 ms")])
    // Without the grace, the same attempt would have been reclaimed long ago.
    expect(expiredAttempts(log.state, inFlight, T0 + 5500, 0)).toEqual([reclaimed(0, "lease expired: no beat for 5500 ms")])
  })

  it("a beat after graceSince counts as usual", () => {
    const { log, inFlight } = leasedAtT0(1)
    const grace = T0 + 5000
    log.apply(beat("w1", 0, 1, 0.1, grace + 700))
    expect(expiredAttempts(log.state, inFlight, grace + 1700, grace)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, grace + 1701, grace)).toEqual([reclaimed(0, "lease expired: no beat for 1001 ms")])
  })

  it("stallMs is measured from the later of the last progress and graceSince", () => {
    const { log, inFlight } = leasedAtT0(1)
    const grace = T0 + 3000
    // Beats keep the lease alive, but the progress never moves from 0.
    for (let t = T0 + 500; t <= T0 + 10_000; t += 500) log.apply(beat("w1", 0, 1, 0, t))
    expect(expiredAttempts(log.state, inFlight, T0 + STALL + 1, 0)).toEqual([reclaimed(0, "stalled: no progress for 5001 ms")])
    expect(expiredAttempts(log.state, inFlight, T0 + STALL + 1, grace)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, grace + STALL, grace)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, grace + STALL + 1, grace)).toEqual([reclaimed(0, "stalled: no progress for 5001 ms")])
  })

  it("a grace that began before the lease changes nothing", () => {
    const { log, inFlight } = leasedAtT0(1)
    expect(expiredAttempts(log.state, inFlight, T0 + LEASE + 1, T0 - 50_000)).toEqual([reclaimed(0, "lease expired: no beat for 1001 ms")])
    expect(expiredAttempts(log.state, inFlight, T0 + LEASE, T0 - 1)).toEqual([])
  })
})

describe("expiredAttempts: no double decisions, and what it leaves alone", () => {
  it("an attempt whose TaskReclaimed is in flight is not reclaimed again", () => {
    const { log, inFlight } = leasedAtT0(4)
    const drafts = expiredAttempts(log.state, inFlight, T0 + 2000, 0)
    expect(drafts).toHaveLength(4)
    const releases = drafts.map((d) => inFlight.hold(d))
    expect(expiredAttempts(log.state, inFlight, T0 + 2001, 0)).toEqual([])
    expect(expiredAttempts(log.state, inFlight, T0 + 60_000, 0)).toEqual([])
    // It is the overlay that holds them back: released unfolded (say, the append failed), they are found again.
    releases[0]!()
    expect(expiredIndexes(log, inFlight, T0 + 2002)).toEqual([0])
    inFlight.hold(drafts[0]!)
    foldDrafts(log, drafts, T0 + 2000)
    for (const release of releases) release()
    expect(log.state.rejectedCount).toBe(0)
    expect(expiredAttempts(log.state, inFlight, T0 + 60_000, 0)).toEqual([])
  })

  it("the attempts of a worker whose WorkerLost is in flight are left to WorkerLost", () => {
    const log = cluster(specOf(4), { w1: 2, w2: 2 })
    const inFlight = new InFlight()
    decideAndFold(log, inFlight, T0)
    const onW1 = [...jobOf(log).running.values()].filter((r) => r.workerId === "w1").map((r) => r.index)
    expect(onW1).toHaveLength(2)
    inFlight.hold({ type: "WorkerLost", workerId: "w1", reason: "no heartbeat" })
    const drafts = ofType(expiredAttempts(log.state, inFlight, T0 + 2000, 0), "TaskReclaimed")
    expect(drafts.map((d) => d.workerId)).toEqual(["w2", "w2"])
    expect(drafts.map((d) => d.index).filter((i) => onW1.includes(i))).toEqual([])
  })

  it("a superseded attempt (its task is done) is left to AttemptAborted", () => {
    const { log, inFlight } = leasedAtT0(2, 2)
    // A copy of task 0 on w2 wins; w1's original is superseded.
    log.apply(F.taskLeased("w2", [{ jobId: JOB, index: 0, attempt: 2, speculative: true }], { ts: T0 + 500, deadline: T0 + 500 + LEASE }))
    log.apply(completed(log, "w2", 0, 2, T0 + 600))
    expect([...jobOf(log).superseded]).toEqual([runKey(0, 1)])
    expect(expiredIndexes(log, inFlight, T0 + CAP + 1)).toEqual([1])
    expect(ofType(plan(log.state, inFlight, T0 + CAP + 1, options), "AttemptAborted").map((d) => [d.workerId, d.index, d.attempt])).toEqual([
      ["w1", 0, 1]
    ])
  })

  it("finished jobs have nothing to reclaim", () => {
    const { log, inFlight } = leasedAtT0(2)
    expect(expiredIndexes(log, inFlight, T0 + 2000)).toEqual([0, 1])
    log.apply(F.jobCancelRequested(JOB), F.jobCancelled(JOB, "by request", { ts: T0 + 1500 }))
    expect(expiredAttempts(log.state, inFlight, T0 + 2000, 0)).toEqual([])
    expect(workerOf(log, "w1").leases.size).toBe(0)
  })
})

describe("after a reclaim", () => {
  /** Two tasks on w1; task 1 beats, task 0 goes silent and is reclaimed at T0 + 1001, then retried. */
  const reclaimTask0 = () => {
    const { log, inFlight } = leasedAtT0(2, 2)
    log.apply(beat("w1", 1, 1, 0.1, T0 + 900))
    const drafts = expiredAttempts(log.state, inFlight, T0 + LEASE + 1, 0)
    expect(drafts).toEqual([reclaimed(0, "lease expired: no beat for 1001 ms")])
    publish(log, inFlight, drafts, T0 + LEASE + 1)
    return { log, inFlight }
  }

  it("the task awaits a decision, the worker's slot is free, and plan schedules a retry with the reason", () => {
    const { log, inFlight } = reclaimTask0()
    const job = jobOf(log)
    expect(job.status[0]).toBe(TaskStatus.NeedsDecision)
    expect(job.needsDecision.get(0)).toEqual({ attempt: 1, error: "reclaimed: lease expired: no beat for 1001 ms", retryable: true })
    expect(job.orphans.get(runKey(0, 1))).toBe("w1") // its late result is still welcome
    expect(job.running.has(runKey(0, 1))).toBe(false)
    expect(job.failures).toBe(1)
    expect([...workerOf(log, "w1").leases]).toEqual([`${JOB}/1.1`])
    expect(workerOf(log, "w1").phase).toBe("live") // a reclaim is about an attempt, not the worker
    const now = T0 + LEASE + 1
    expect(plan(log.state, inFlight, now, options)).toEqual([
      {
        type: "RetryScheduled",
        jobId: JOB,
        index: 0,
        attempt: 1,
        delayMs: 200,
        notBefore: now + 200,
        reason: "reclaimed: lease expired: no beat for 1001 ms"
      }
    ])
    expect(expiredIndexes(log, inFlight, now + 1)).toEqual([])
  })

  /** ...then the retry is leased (attempt 2) when due. */
  const retried = () => {
    const { log, inFlight } = reclaimTask0()
    let now = T0 + LEASE + 1
    expect(ofType(decideAndFold(log, inFlight, now), "RetryScheduled")).toHaveLength(1)
    now += 200
    const leased = leasesOf(decideAndFold(log, inFlight, now))
    expect(leased.flatMap((d) => d.leases.map((l) => [l.index, l.attempt]))).toEqual([[0, 2]])
    const holder = leased[0]!.workerId
    expect(jobOf(log).running.get(runKey(0, 2))?.workerId).toBe(holder)
    return { log, inFlight, now, holder }
  }

  it("the late result of the reclaimed attempt counts if it is the first; the retry is then aborted", () => {
    const { log, inFlight, now, holder } = retried()
    log.apply(completed(log, "w1", 0, 1, now + 50))
    const job = jobOf(log)
    expect(job).toMatchObject({ done: 1, duplicates: 0, sum: BigInt(F.answer(job.spec, 0)) })
    expect(job.status[0]).toBe(TaskStatus.Done)
    expect(job.orphans.size).toBe(0)
    expect([...job.superseded]).toEqual([runKey(0, 2)])
    const aborts = ofType(decideAndFold(log, inFlight, now + 60), "AttemptAborted")
    expect(aborts).toEqual([
      { type: "AttemptAborted", workerId: holder, jobId: JOB, index: 0, attempt: 2, reason: "another attempt finished first" }
    ])
    expect(job.running.has(runKey(0, 2))).toBe(false)
    expect(workerOf(log, holder).leases.has(`${JOB}/0.2`)).toBe(false)
    // The aborted retry's own late result is a duplicate.
    log.apply(completed(log, holder, 0, 2, now + 70))
    expect(job).toMatchObject({ done: 1, duplicates: 1, sum: BigInt(F.answer(job.spec, 0)) })
    expect(log.state.rejectedCount).toBe(0)
  })

  it("the late result of the reclaimed attempt is a duplicate if the retry finished first", () => {
    const { log, now, holder } = retried()
    log.apply(completed(log, holder, 0, 2, now + 50))
    const job = jobOf(log)
    expect(job).toMatchObject({ done: 1, duplicates: 0 })
    expect(job.orphans.size).toBe(0)
    const sum = job.sum
    log.apply(completed(log, "w1", 0, 1, now + 60))
    expect(job).toMatchObject({ done: 1, duplicates: 1, sum })
    expect(log.state.duplicateResults).toBe(1)
    expect(log.state.rejectedCount).toBe(0)
  })

  it("a late failure of the reclaimed attempt changes nothing once the retry is running", () => {
    const { log, now } = retried()
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 0, attempt: 1, error: "late boom", retryable: true }], { ts: now + 10 }))
    const job = jobOf(log)
    expect(job.status[0]).toBe(TaskStatus.Running)
    expect(job.needsDecision.size).toBe(0)
    expect(job.orphans.size).toBe(0)
  })

  it("a coordinator loop with an explicit clock: hung attempts are reclaimed and retried until the job completes", () => {
    const spec = specOf(8)
    const log = cluster(spec, { w1: 4, w2: 4 })
    const inFlight = new InFlight()
    const reclaims: string[] = []
    // w1 hangs on every first attempt it gets (never beats, never reports); everything else completes a tick later.
    let pending: Array<{ workerId: string; index: number; attempt: number }> = []
    let now = T0
    for (let tick = 0; tick < 200 && jobOf(log).phase === "running"; tick++, now += 100) {
      for (const p of pending) log.apply(completed(log, p.workerId, p.index, p.attempt, now))
      pending = []
      for (const d of publish(log, inFlight, expiredAttempts(log.state, inFlight, now, 0), now)) {
        if (d.type === "TaskReclaimed") reclaims.push(`${d.workerId}:${d.index}.${d.attempt}`)
      }
      for (const d of leasesOf(decideAndFold(log, inFlight, now))) {
        for (const l of d.leases) if (!(d.workerId === "w1" && l.attempt === 1)) pending.push({ workerId: d.workerId, index: l.index, attempt: l.attempt })
      }
    }
    const job = jobOf(log)
    expect(job).toMatchObject({ phase: "completed", done: 8, duplicates: 0, result: F.answer(F.sumSpec(1, 100, 1), 0) })
    expect(reclaims.length).toBeGreaterThan(0)
    expect(new Set(reclaims).size).toBe(reclaims.length) // never twice the same attempt
    expect(reclaims.every((r) => r.startsWith("w1:") && r.endsWith(".1"))).toBe(true)
    expect(log.state.rejectedCount).toBe(0)
  })
})
