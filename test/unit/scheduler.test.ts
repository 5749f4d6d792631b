import { describe, expect, it } from "vitest"
import { HeartbeatClock, lostWorkers } from "../../src/coordinator/liveness.ts"
import { InFlight, plan, retryDelayMs, type Draft, type LeaseDraft, type SchedulerOptions } from "../../src/coordinator/scheduler.ts"
import { taskInput, type ResolvedSpec } from "../../src/domain/job-spec.ts"
import { stateDigest } from "../../src/projections/digest.ts"
import { TaskStatus } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"

const options: SchedulerOptions = { maxLeasesPerEvent: 512, random: () => 0.5, sharing: "fifo" }
const JOB = "j-1"
const NOW = 10_000

type Leased = Extract<Draft, { type: "TaskLeased" }>
const leasesOf = (drafts: Draft[]): Leased[] => drafts.filter((d): d is Leased => d.type === "TaskLeased")
const indexesByWorker = (drafts: Draft[]): Record<string, number[]> => {
  const out: Record<string, number[]> = {}
  for (const d of leasesOf(drafts)) (out[d.workerId] ??= []).push(...d.leases.map((l) => l.index))
  return out
}
const countsByWorker = (drafts: Draft[]): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [workerId, indexes] of Object.entries(indexesByWorker(drafts))) out[workerId] = indexes.length
  return out
}

/** A log with epoch 1, the given workers (id -> slots) and one job, scheduled unless `queued`. */
const cluster = (spec: ResolvedSpec, workers: Record<string, number>, queued = false): F.Log => {
  const log = new F.Log().apply(F.coordinatorElected(1))
  for (const [id, slots] of Object.entries(workers)) log.apply(F.workerJoined(id, slots))
  log.apply(F.jobSubmitted(JOB, spec))
  if (!queued) log.apply(F.tasksScheduled(JOB, spec.tasks))
  return log
}

/** Folds drafts as the coordinator's events, like the coordinator does once they come back from the log. */
const foldDrafts = (log: F.Log, drafts: Draft[], ts = NOW): void => {
  for (const draft of drafts) log.apply(F.draftEvent(draft, { ts }))
}

/** The coordinator's protocol: hold every draft, fold it, release it. */
const decideAndFold = (log: F.Log, inFlight: InFlight, now: number): Draft[] => {
  const drafts = plan(log.state, inFlight, now, options)
  const releases = drafts.map((d) => inFlight.hold(d))
  foldDrafts(log, drafts, now)
  for (const release of releases) release()
  return drafts
}

const leaseDraft = (spec: ResolvedSpec, index: number, attempt = 1, now = NOW): LeaseDraft => ({
  jobId: JOB,
  index,
  attempt,
  kind: spec.kind,
  input: taskInput(spec, index),
  deadline: now + spec.leaseMs
})

describe("plan: scheduling and leasing", () => {
  const spec = F.sumSpec(1, 100, 10)

  it("a queued job gets TasksScheduled and, in the same pass, its first leases (stored after it)", () => {
    const log = cluster(spec, { w1: 4 }, true)
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([
      { type: "TasksScheduled", jobId: JOB, count: 10 },
      { type: "TaskLeased", workerId: "w1", leases: [0, 1, 2, 3].map((i) => leaseDraft(spec, i)) }
    ])
    // Folded in that order, both apply.
    const drafts = plan(log.state, new InFlight(), NOW, options)
    for (const draft of drafts) log.apply(F.draftEvent(draft))
    expect(log.state.rejectedCount).toBe(0)
    expect(log.state.jobs.get(JOB)?.running.size).toBe(4)
  })

  it("a TasksScheduled in flight is not decided again, nor are the leases that went with it", () => {
    const log = cluster(spec, { w1: 4 }, true)
    const inFlight = new InFlight()
    const drafts = plan(log.state, inFlight, NOW, options)
    const releases = drafts.map((d) => inFlight.hold(d))
    expect(plan(log.state, inFlight, NOW, options)).toEqual([])
    for (const release of releases) release()
    expect(plan(log.state, inFlight, NOW, options)).toEqual(drafts)
  })

  it("a running job with workers gets TaskLeased drafts, interleaved from the freest worker (least-loaded)", () => {
    const log = cluster(spec, { w1: 3, w2: 2 })
    const drafts = plan(log.state, new InFlight(), NOW, options)
    expect(drafts).toEqual([
      { type: "TaskLeased", workerId: "w1", leases: [0, 2, 4].map((i) => leaseDraft(spec, i)) },
      { type: "TaskLeased", workerId: "w2", leases: [1, 3].map((i) => leaseDraft(spec, i)) }
    ])
    expect(leaseDraft(spec, 0)).toEqual({
      jobId: JOB,
      index: 0,
      attempt: 1,
      kind: "sum",
      input: { op: "sum", from: "1", to: "10" },
      deadline: NOW + 10_000
    })
  })

  it("never exceeds free slots, counting current leases", () => {
    const log = cluster(F.sumSpec(1, 1000, 50), { w1: 5, w2: 3, w3: 1 })
    log.apply(F.taskLeased("w1", [0, 1, 2, 3].map((index) => ({ jobId: JOB, index, attempt: 1 }))))
    const drafts = plan(log.state, new InFlight(), NOW, options)
    const byWorker = indexesByWorker(drafts)
    // Free: w1 5-4 = 1, w2 3, w3 1: every worker gets exactly its free capacity, no task twice, the
    // lowest unleased tasks first. (Which task lands where is the placement policy's business.)
    expect(countsByWorker(drafts)).toEqual({ w1: 1, w2: 3, w3: 1 })
    expect(Object.values(byWorker).flat().sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8])
    // Least-loaded: the first task goes to the freest worker.
    expect(byWorker.w2?.[0]).toBe(4)
    // Folded, the leases fill every worker exactly to its slots, and there is no room left.
    foldDrafts(log, drafts)
    for (const w of log.state.workers.values()) expect(w.leases.size).toBe(w.slots)
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([])
  })

  it("spreads evenly over equal workers", () => {
    const log = cluster(F.sumSpec(1, 1000, 100), { w1: 4, w2: 4, w3: 4 })
    const byWorker = indexesByWorker(plan(log.state, new InFlight(), NOW, options))
    expect(byWorker).toEqual({ w1: [0, 3, 6, 9], w2: [1, 4, 7, 10], w3: [2, 5, 8, 11] })
  })

  it("leases no more than there are tasks", () => {
    const log = cluster(F.sumSpec(1, 3, 3), { w1: 8, w2: 8 })
    expect(indexesByWorker(plan(log.state, new InFlight(), NOW, options))).toEqual({ w1: [0, 2], w2: [1] })
  })

  it("a worker's prefetch adds to its capacity", () => {
    const log = new F.Log().apply(
      F.coordinatorElected(1),
      F.workerJoined("w1", 2, { prefetch: 3 }),
      F.workerJoined("w2", 1),
      F.jobSubmitted(JOB, spec),
      F.tasksScheduled(JOB, 10)
    )
    const drafts = plan(log.state, new InFlight(), NOW, options)
    // Capacity: w1 2 + 3 = 5, w2 1; six tasks fill both exactly, each leased once.
    expect(countsByWorker(drafts)).toEqual({ w1: 5, w2: 1 })
    expect(Object.values(indexesByWorker(drafts)).flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5])
    foldDrafts(log, drafts)
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([])
  })

  it("splits a worker's leases into events of at most maxLeasesPerEvent", () => {
    const log = cluster(spec, { w1: 5 })
    const drafts = plan(log.state, new InFlight(), NOW, { ...options, maxLeasesPerEvent: 2 })
    expect(leasesOf(drafts).map((d) => [d.workerId, d.leases.map((l) => l.index)])).toEqual([
      ["w1", [0, 1]],
      ["w1", [2, 3]],
      ["w1", [4]]
    ])
  })

  it("does not lease to draining, left or lost workers, nor without workers", () => {
    expect(plan(cluster(spec, {}).state, new InFlight(), NOW, options)).toEqual([])
    const log = cluster(spec, { w1: 2, w2: 2, w3: 2 }).apply(F.workerDraining("w1"), F.workerLeft("w2"), F.workerLost("w3"))
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([])
  })

  it("fills the jobs in submission order", () => {
    const log = cluster(F.sumSpec(1, 10, 3), { w1: 5 })
    const spec2 = F.sumSpec(1, 10, 5)
    log.apply(F.jobSubmitted("j-2", spec2), F.tasksScheduled("j-2", 5))
    const [draft, ...rest] = plan(log.state, new InFlight(), NOW, options)
    expect(rest).toEqual([])
    expect(draft?.type === "TaskLeased" && draft.leases.map((l) => `${l.jobId}:${l.index}`)).toEqual(["j-1:0", "j-1:1", "j-1:2", "j-2:0", "j-2:1"])
  })

  it("does not mutate the state", () => {
    const log = cluster(spec, { w1: 3, w2: 2 })
    const before = stateDigest(log.state)
    plan(log.state, new InFlight(), NOW, options)
    expect(stateDigest(log.state)).toBe(before)
  })
})

describe("InFlight", () => {
  const spec = F.sumSpec(1, 100, 10)

  it("held drafts are not leased again: their slots and tasks are taken", () => {
    const log = cluster(spec, { w1: 3, w2: 2 })
    const inFlight = new InFlight()
    const first = plan(log.state, inFlight, NOW, options)
    const releases = first.map((d) => inFlight.hold(d))
    expect(inFlight.slots).toEqual(new Map([["w1", 3], ["w2", 2]]))
    expect([...inFlight.keys].sort()).toEqual([0, 1, 2, 3, 4].map((i) => `task:${JOB}/${i}`))
    // All slots are in flight: nothing more to lease.
    expect(plan(log.state, inFlight, NOW, options)).toEqual([])
    // A new worker gets the next tasks, never the held ones.
    log.apply(F.workerJoined("w3", 4))
    expect(indexesByWorker(plan(log.state, inFlight, NOW, options))).toEqual({ w3: [5, 6, 7, 8] })
    for (const release of releases) release()
  })

  it("release restores the slots and keys; the same plan comes again", () => {
    const log = cluster(spec, { w1: 3, w2: 2 })
    const inFlight = new InFlight()
    const first = plan(log.state, inFlight, NOW, options)
    const releases = first.map((d) => inFlight.hold(d))
    for (const release of releases) release()
    expect(inFlight.keys.size).toBe(0)
    expect(inFlight.slots.size).toBe(0)
    expect(plan(log.state, inFlight, NOW, options)).toEqual(first)
  })

  it("release is idempotent and releases only its own draft", () => {
    const inFlight = new InFlight()
    const a = inFlight.hold({ type: "TaskLeased", workerId: "w1", leases: [leaseDraft(spec, 0), leaseDraft(spec, 1)] })
    const b = inFlight.hold({ type: "TaskLeased", workerId: "w1", leases: [leaseDraft(spec, 2)] })
    expect(inFlight.slots.get("w1")).toBe(3)
    a()
    a()
    expect(inFlight.slots.get("w1")).toBe(1)
    expect([...inFlight.keys]).toEqual([`task:${JOB}/2`])
    b()
    expect(inFlight.slots.has("w1")).toBe(false)
    expect(inFlight.keys.size).toBe(0)
    const c = inFlight.hold({ type: "WorkerLost", workerId: "w9", reason: "x" })
    expect([...inFlight.keys]).toEqual(["worker:w9"])
    c()
    expect(inFlight.keys.size).toBe(0)
  })

  it("folded and released leases are not leased again; freed slots get the next tasks", () => {
    const log = cluster(spec, { w1: 3, w2: 2 })
    const inFlight = new InFlight()
    decideAndFold(log, inFlight, NOW)
    expect([...log.state.jobs.get(JOB)!.attempts]).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    expect(plan(log.state, inFlight, NOW, options)).toEqual([])
    log.apply(F.taskCompleted("w2", [1, 3].map((index) => ({ jobId: JOB, index, attempt: 1, result: F.answer(spec, index) }))))
    expect(indexesByWorker(plan(log.state, inFlight, NOW, options))).toEqual({ w2: [5, 6] })
  })

  // A TaskLeased that is published but set aside by the fold (its worker started draining, left or was lost
  // meanwhile) must not strand its tasks: later plans lease them again.
  it("tasks of a TaskLeased that the fold set aside are leased again later", () => {
    const log = cluster(spec, { w1: 3, w2: 2 })
    const inFlight = new InFlight()
    const drafts = plan(log.state, inFlight, NOW, options)
    const releases = drafts.map((d) => inFlight.hold(d))
    log.apply(F.workerDraining("w1")) // w1 drains while its leases travel through the log
    foldDrafts(log, drafts)
    expect(log.rejectedReasons).toEqual(["TaskLeased: worker w1 is draining, not live"])
    for (const release of releases) release()
    const job = log.state.jobs.get(JOB)!
    expect([0, 2, 4].map((i) => job.status[i])).toEqual([TaskStatus.Pending, TaskStatus.Pending, TaskStatus.Pending])
    // Plenty of room for everything that is left.
    log.apply(F.workerJoined("w3", 16))
    const leased = new Set<number>()
    for (let round = 0; round < 5; round++) {
      for (const d of leasesOf(decideAndFold(log, inFlight, NOW + round))) for (const l of d.leases) leased.add(l.index)
    }
    expect([0, 2, 4].filter((i) => !leased.has(i))).toEqual([])
  })
})

describe("InFlight and lost workers", () => {
  const spec = F.sumSpec(1, 100, 10)

  // Coordinator#tick decides WorkerLost, then plans in the same tick before WorkerLost is folded: the plan
  // must neither lease to that worker nor lose any task.
  it("tasks around a WorkerLost decided in the same tick all complete", () => {
    const log = cluster(spec, { w1: 3, w2: 2 })
    const inFlight = new InFlight()
    decideAndFold(log, inFlight, NOW) // w1: 0, 2, 4; w2: 1, 3
    log.apply(F.taskCompleted("w1", [0, 2, 4].map((index) => ({ jobId: JOB, index, attempt: 1, result: F.answer(spec, index) }))))
    // w1 then goes silent; w2 keeps beating.
    const clock = new HeartbeatClock()
    clock.beat("w2", NOW + 5000)
    let now = NOW + 6000
    const lost = lostWorkers(log.state, clock, inFlight, now, 5000)
    expect(lost).toEqual([{ type: "WorkerLost", workerId: "w1", reason: "no heartbeat for 16000 ms" }])
    const releases = lost.map((d) => inFlight.hold(d))
    const drafts = plan(log.state, inFlight, now, options)
    releases.push(...drafts.map((d) => inFlight.hold(d)))
    foldDrafts(log, [...lost, ...drafts], now) // published in this order
    for (const release of releases) release()
    // From here on, w2 runs everything it is given.
    log.apply(F.taskCompleted("w2", [1, 3].map((index) => ({ jobId: JOB, index, attempt: 1, result: F.answer(spec, index) }))))
    for (let round = 0; round < 20 && log.state.jobs.get(JOB)!.phase === "running"; round++) {
      now += 1000
      clock.beat("w2", now)
      for (const d of leasesOf(decideAndFold(log, inFlight, now))) {
        log.apply(F.taskCompleted(d.workerId, d.leases.map((l) => ({ jobId: JOB, index: l.index, attempt: l.attempt, result: F.answer(spec, l.index) }))))
      }
    }
    expect(log.state.jobs.get(JOB)).toMatchObject({ phase: "completed", result: "5050" })
  })
})

describe("retries and failures", () => {
  it("retryDelayMs grows exponentially, is capped at backoffMaxMs, jitter within ±20 %", () => {
    const policy = { backoffMs: 200, backoffMaxMs: 30_000 }
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => retryDelayMs(policy, a, 0.5))).toEqual([200, 400, 800, 1600, 3200, 6400, 12800, 25600])
    for (const attempt of [9, 10, 20, 100, 255]) expect(retryDelayMs(policy, attempt, 0.5)).toBe(30_000)
    expect(retryDelayMs(policy, 1, 0)).toBe(160)
    expect(retryDelayMs(policy, 1, 0.999999)).toBe(240)
    expect(retryDelayMs(policy, 3, 0)).toBe(640)
    expect(retryDelayMs(policy, 3, 0.25)).toBe(720)
    // Jitter never takes a delay above the cap.
    expect(retryDelayMs(policy, 8, 0.999999)).toBe(30_000)
    expect(retryDelayMs(policy, 9, 0)).toBe(24_000)
    for (let attempt = 1; attempt <= 12; attempt++) {
      const nominal = Math.min(30_000, 200 * 2 ** (attempt - 1))
      for (let r = 0; r < 1; r += 0.05) {
        const d = retryDelayMs(policy, attempt, r)
        expect(d).toBeGreaterThanOrEqual(Math.floor(nominal * 0.8))
        expect(d).toBeLessThanOrEqual(Math.min(30_000, Math.ceil(nominal * 1.2)))
        expect(Number.isInteger(d)).toBe(true)
      }
    }
    expect(retryDelayMs({ backoffMs: 0, backoffMaxMs: 0 }, 5, 0.9)).toBe(0)
    expect(retryDelayMs({ backoffMs: 100, backoffMaxMs: 100 }, 1, 0.9)).toBe(100)
  })

  it("a failed task with attempts left gets RetryScheduled; once due, it is leased as the next attempt", () => {
    const spec = F.sumSpec(1, 20, 2)
    const log = cluster(spec, { w1: 1 })
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 0, attempt: 1 }]))
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 0, attempt: 1, error: "boom", retryable: true }]))
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 1, attempt: 1 }])) // the only slot is busy with task 1
    const inFlight = new InFlight()
    const drafts = plan(log.state, inFlight, NOW, options)
    expect(drafts).toEqual([
      { type: "RetryScheduled", jobId: JOB, index: 0, attempt: 1, delayMs: 200, notBefore: NOW + 200, reason: "boom" }
    ])
    // In flight, it is not decided twice.
    const release = inFlight.hold(drafts[0]!)
    expect(plan(log.state, inFlight, NOW, options)).toEqual([])
    foldDrafts(log, drafts)
    release()
    expect(log.state.jobs.get(JOB)!.retryAt.get(0)).toBe(NOW + 200)
    log.apply(F.taskCompleted("w1", [{ jobId: JOB, index: 1, attempt: 1, result: F.answer(spec, 1) }]))
    // Not due yet: nothing to lease.
    expect(plan(log.state, inFlight, NOW + 199, options)).toEqual([])
    expect(plan(log.state, inFlight, NOW + 200, options)).toEqual([
      { type: "TaskLeased", workerId: "w1", leases: [leaseDraft(spec, 0, 2, NOW + 200)] }
    ])
  })

  it("due retries are leased before never-leased tasks", () => {
    const spec = F.sumSpec(1, 100, 10)
    const log = cluster(spec, { w1: 1 })
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 3, attempt: 1 }]))
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 3, attempt: 1, error: "e", retryable: true }]))
    log.apply(F.retryScheduled(JOB, 3, 1, NOW))
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([{ type: "TaskLeased", workerId: "w1", leases: [leaseDraft(spec, 3, 2)] }])
  })

  it("after maxAttempts attempts the job fails, naming the task, the attempts and the last error", () => {
    const spec = F.sumSpec(1, 40, 4) // maxAttempts 3 by default
    const log = cluster(spec, { w1: 4 })
    const inFlight = new InFlight()
    let now = NOW
    decideAndFold(log, inFlight, now) // leases 0..3
    for (const index of [0, 1, 3]) log.apply(F.taskCompleted("w1", [{ jobId: JOB, index, attempt: 1, result: F.answer(spec, index) }]))
    for (let attempt = 1; attempt <= 3; attempt++) {
      log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 2, attempt, error: `boom ${attempt}`, retryable: true }]))
      const drafts = decideAndFold(log, inFlight, now)
      if (attempt < 3) {
        expect(drafts).toEqual([
          {
            type: "RetryScheduled",
            jobId: JOB,
            index: 2,
            attempt,
            delayMs: 200 * 2 ** (attempt - 1),
            notBefore: now + 200 * 2 ** (attempt - 1),
            reason: `boom ${attempt}`
          }
        ])
        now += 200 * 2 ** (attempt - 1)
        expect(leasesOf(decideAndFold(log, inFlight, now))).toEqual([
          { type: "TaskLeased", workerId: "w1", leases: [leaseDraft(spec, 2, attempt + 1, now)] }
        ])
      } else {
        expect(drafts).toEqual([
          {
            type: "JobFailed",
            jobId: JOB,
            reason: "task 2 failed (gave up after 3 attempts): boom 3",
            task: { index: 2, attempts: 3, error: "boom 3", retryable: true }
          }
        ])
      }
    }
    const job = log.state.jobs.get(JOB)!
    expect(job).toMatchObject({ phase: "failed", reason: "task 2 failed (gave up after 3 attempts): boom 3", failures: 3, done: 3 })
    expect(plan(log.state, inFlight, now, options)).toEqual([])
  })

  it("with maxAttempts 1 the first failure fails the job (singular 'attempt')", () => {
    const spec = F.sumSpec(1, 40, 4, { maxAttempts: 1 })
    const log = cluster(spec, { w1: 4 })
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 0, attempt: 1 }]))
    log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 0, attempt: 1, error: "boom", retryable: true }]))
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([
      { type: "JobFailed", jobId: JOB, reason: "task 0 failed (gave up after 1 attempt): boom", task: { index: 0, attempts: 1, error: "boom", retryable: true } }
    ])
  })

  it("a non-retryable error fails the job at once, and no retry of another task is decided with it", () => {
    const spec = F.sumSpec(1, 40, 4)
    const log = cluster(spec, { w1: 4 })
    log.apply(F.taskLeased("w1", [0, 1].map((index) => ({ jobId: JOB, index, attempt: 1 }))))
    log.apply(
      F.taskFailed("w1", [
        { jobId: JOB, index: 0, attempt: 1, error: "flaky", retryable: true },
        { jobId: JOB, index: 1, attempt: 1, error: "bad input", retryable: false }
      ])
    )
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([
      { type: "JobFailed", jobId: JOB, reason: "task 1 failed (non-retryable error): bad input", task: { index: 1, attempts: 1, error: "bad input", retryable: false } }
    ])
  })

  it("a lost worker's tasks are retried with reason 'worker lost'", () => {
    const spec = F.sumSpec(1, 40, 4)
    const log = cluster(spec, { w1: 4, w2: 4 })
    log.apply(F.taskLeased("w1", [{ jobId: JOB, index: 0, attempt: 1 }]), F.workerLost("w1"))
    const drafts = plan(log.state, new InFlight(), NOW, options)
    expect(drafts[0]).toEqual({ type: "RetryScheduled", jobId: JOB, index: 0, attempt: 1, delayMs: 200, notBefore: NOW + 200, reason: "worker lost" })
    // The other tasks are leased meanwhile, all to the live worker.
    expect(indexesByWorker(drafts)).toEqual({ w2: [1, 2, 3] })
  })
})

describe("the end of a job", () => {
  it("cancelRequested -> JobCancelled with its reason, whatever the phase", () => {
    const spec = F.sumSpec(1, 40, 4)
    const running = cluster(spec, { w1: 4 }).apply(F.jobCancelRequested(JOB, "not needed"))
    expect(plan(running.state, new InFlight(), NOW, options)).toEqual([{ type: "JobCancelled", jobId: JOB, reason: "not needed" }])
    const queued = cluster(spec, { w1: 4 }, true).apply(F.jobCancelRequested(JOB))
    expect(plan(queued.state, new InFlight(), NOW, options)).toEqual([{ type: "JobCancelled", jobId: JOB, reason: "cancelled by request" }])
  })

  it("all tasks done -> JobCompleted with the exact sum", () => {
    const n = 10n ** 25n + 2n
    const spec = F.sumSpec(1n, n, 5)
    const log = cluster(spec, { w1: 8 })
    const inFlight = new InFlight()
    decideAndFold(log, inFlight, NOW)
    log.apply(F.taskCompleted("w1", [0, 1, 2, 3, 4].map((index) => ({ jobId: JOB, index, attempt: 1, result: F.answer(spec, index) }))))
    const drafts = plan(log.state, inFlight, NOW, options)
    expect(drafts).toEqual([{ type: "JobCompleted", jobId: JOB, result: ((n * (n + 1n)) / 2n).toString() }])
    foldDrafts(log, drafts)
    expect(log.state.jobs.get(JOB)).toMatchObject({ phase: "completed", result: "50000000000000000000000025000000000000000000000003" })
    expect(plan(log.state, inFlight, NOW, options)).toEqual([])
  })

  it("a whole job runs to completion through plan and fold", () => {
    const spec = F.sumSpec(-1000, 999, 37, { name: "e2e" })
    const log = cluster(spec, { w1: 3, w2: 5, w3: 2 })
    const inFlight = new InFlight()
    let now = NOW
    for (let round = 0; round < 50 && log.state.jobs.get(JOB)!.phase === "running"; round++, now += 10) {
      const drafts = decideAndFold(log, inFlight, now)
      for (const d of leasesOf(drafts)) {
        log.apply(F.taskCompleted(d.workerId, d.leases.map((l) => ({ jobId: l.jobId, index: l.index, attempt: l.attempt, result: F.answer(spec, l.index) }))))
      }
    }
    expect(log.state.jobs.get(JOB)).toMatchObject({ phase: "completed", result: "-1000", done: 37, duplicates: 0 })
    expect(log.state.rejectedCount).toBe(0)
  })
})

describe("liveness: lostWorkers", () => {
  const withWorkers = () => cluster(F.sumSpec(1, 10, 1), { w1: 1, w2: 1, w3: 1 })

  it("a worker never heard of is lost once the timeout has passed since the grace start", () => {
    const log = withWorkers()
    const clock = new HeartbeatClock()
    clock.startGrace(1000)
    expect(lostWorkers(log.state, clock, new InFlight(), 6000, 5000)).toEqual([]) // exactly the timeout: not yet
    expect(lostWorkers(log.state, clock, new InFlight(), 6001, 5000)).toEqual(
      ["w1", "w2", "w3"].map((workerId) => ({ type: "WorkerLost", workerId, reason: "no heartbeat for 5001 ms" }))
    )
  })

  it("without a grace start, silence counts from 0", () => {
    const log = withWorkers()
    const clock = new HeartbeatClock()
    expect(clock.lastSeen("w1")).toBe(0)
    expect(lostWorkers(log.state, clock, new InFlight(), 5001, 5000)).toHaveLength(3)
    expect(lostWorkers(log.state, clock, new InFlight(), 5000, 5000)).toHaveLength(0)
  })

  it("heartbeats keep a worker alive; the latest of beat and grace counts", () => {
    const log = withWorkers()
    const clock = new HeartbeatClock()
    clock.startGrace(1000)
    clock.beat("w1", 7000)
    clock.beat("w2", 500) // before the grace start: the grace counts
    expect(clock.lastSeen("w1")).toBe(7000)
    expect(clock.lastSeen("w2")).toBe(1000)
    expect(lostWorkers(log.state, clock, new InFlight(), 11_000, 5000)).toEqual([
      { type: "WorkerLost", workerId: "w2", reason: "no heartbeat for 10000 ms" },
      { type: "WorkerLost", workerId: "w3", reason: "no heartbeat for 10000 ms" }
    ])
    clock.startGrace(8000) // a new term: everyone gets a fresh grace
    expect(lostWorkers(log.state, clock, new InFlight(), 11_000, 5000)).toEqual([])
  })

  it("only live and draining workers can be lost, and not twice while the decision is in flight", () => {
    const log = withWorkers().apply(F.workerDraining("w1"), F.workerLeft("w2"))
    const clock = new HeartbeatClock()
    const inFlight = new InFlight()
    const drafts = lostWorkers(log.state, clock, inFlight, 60_000, 5000)
    expect(drafts.map((d) => d.type === "WorkerLost" && d.workerId)).toEqual(["w1", "w3"])
    const releases = drafts.map((d) => inFlight.hold(d))
    expect(lostWorkers(log.state, clock, inFlight, 60_001, 5000)).toEqual([])
    foldDrafts(log, drafts)
    for (const release of releases) release()
    expect(lostWorkers(log.state, clock, inFlight, 60_002, 5000)).toEqual([])
    expect(log.state.workers.get("w3")?.phase).toBe("lost")
  })

  it("rounds the silence in the reason", () => {
    const log = cluster(F.sumSpec(1, 10, 1), { w1: 1 })
    const clock = new HeartbeatClock()
    clock.beat("w1", 0.4)
    expect(lostWorkers(log.state, clock, new InFlight(), 6000.2, 5000)).toEqual([
      { type: "WorkerLost", workerId: "w1", reason: "no heartbeat for 6000 ms" }
    ])
  })
})
