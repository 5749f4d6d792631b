// Placement: each worker's (adaptive) capacity and the job's policy for dealing tasks to workers.
import { describe, expect, it } from "vitest"
import { capacity, clusterMeanMs, freeCapacity, pickSlot, type Rotation, type Slot } from "../../src/coordinator/placement.ts"
import { plan, type SchedulerOptions } from "../../src/coordinator/scheduler.ts"
import type { Placement, ResolvedSpec } from "../../src/domain/job-spec.ts"
import { emptyState, type WorkerPhase, type WorkerState } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"
import { cluster, countsByWorker, decideAndFold, indexesByWorker, InFlight, JOB, leasesOf, options, workerOf } from "./sim.ts"

const NOW = 10_000

type WorkerSpec = {
  readonly slots?: number
  readonly prefetch?: number
  readonly completed?: number
  readonly meanMs?: number
  readonly phase?: WorkerPhase
  readonly leases?: number
}

const workerState = (workerId: string, w: WorkerSpec = {}): WorkerState => ({
  workerId,
  slots: w.slots ?? 4,
  prefetch: w.prefetch ?? 0,
  host: "h",
  pid: 1,
  kinds: ["sum"],
  phase: w.phase ?? "live",
  joinedAt: 0,
  lastEventAt: 0,
  leases: new Set(Array.from({ length: w.leases ?? 0 }, (_, i) => `x/${i}.1`)),
  assigned: 0,
  completed: w.completed ?? 0,
  failed: 0,
  taskMsTotal: (w.completed ?? 0) * (w.meanMs ?? 0)
})

const stateWith = (workers: Record<string, WorkerSpec>) => {
  const state = emptyState()
  for (const [id, w] of Object.entries(workers)) state.workers.set(id, workerState(id, w))
  return state
}

/** A small deterministic PRNG (mulberry32). */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/**
 * Gives each worker a history through the fold: `n` completed tasks of `ms` each (of a warm-up job that
 * then completes), so that the scheduler sees their speed.
 */
const warmUp = (log: F.Log, history: Record<string, readonly [n: number, ms: number]>): void => {
  const total = Object.values(history).reduce((sum, [n]) => sum + n, 0)
  const spec = F.sumSpec(1, 1_000_000, total)
  log.apply(F.jobSubmitted("warm", spec, { ts: 2000 }), F.tasksScheduled("warm", total, { ts: 2000 }))
  let next = 0
  for (const [workerId, [n, ms]] of Object.entries(history)) {
    const indexes = Array.from({ length: n }, (_, i) => next + i)
    next += n
    log.apply(F.taskLeased(workerId, indexes.map((index) => ({ jobId: "warm", index, attempt: 1 })), { ts: 2000 }))
    log.apply(F.taskCompleted(workerId, indexes.map((index) => ({ jobId: "warm", index, attempt: 1, result: F.answer(spec, index), ms })), { ts: 3000 }))
  }
  log.apply(F.jobCompleted("warm", "0", { ts: 3000 }))
  expect(log.state.rejectedCount).toBe(0)
  expect(log.state.jobs.get("warm")?.phase).toBe("completed")
}

/** w1, w2, w3 with 4 slots each, a history, then job JOB of 20 tasks: what does plan deal? */
const dealtAfter = (history: Record<string, readonly [number, number]>, workers: Record<string, number> = { w1: 4, w2: 4, w3: 4 }) => {
  const spec = F.sumSpec(1, 1000, 20)
  const log = cluster(spec, workers, true)
  warmUp(log, history)
  log.apply(F.tasksScheduled(JOB, 20, { ts: 4000 }))
  return countsByWorker(plan(log.state, new InFlight(), NOW, options))
}

describe("clusterMeanMs", () => {
  it("is the task-weighted mean over live workers with at least 10 completed tasks", () => {
    expect(clusterMeanMs(stateWith({ a: { completed: 20, meanMs: 10 }, b: { completed: 10, meanMs: 40 } }))).toBe(20)
    // A worker with fewer samples does not count.
    expect(clusterMeanMs(stateWith({ a: { completed: 20, meanMs: 10 }, b: { completed: 10, meanMs: 40 }, c: { completed: 9, meanMs: 1000 } }))).toBe(20)
    // Nor does one that is not live.
    for (const phase of ["draining", "left", "lost"] as const) {
      expect(
        clusterMeanMs(stateWith({ a: { completed: 20, meanMs: 10 }, b: { completed: 10, meanMs: 40 }, c: { completed: 40, meanMs: 1000, phase } }))
      ).toBe(20)
    }
  })

  it("is undefined with fewer than two such workers", () => {
    expect(clusterMeanMs(emptyState())).toBeUndefined()
    expect(clusterMeanMs(stateWith({ a: { completed: 100, meanMs: 10 } }))).toBeUndefined()
    expect(clusterMeanMs(stateWith({ a: { completed: 100, meanMs: 10 }, b: { completed: 9, meanMs: 10 } }))).toBeUndefined()
    expect(clusterMeanMs(stateWith({ a: { completed: 100, meanMs: 10 }, b: { completed: 50, meanMs: 10, phase: "lost" } }))).toBeUndefined()
    expect(clusterMeanMs(stateWith({ a: { completed: 10, meanMs: 10 }, b: { completed: 10, meanMs: 30 } }))).toBe(20)
  })
})

describe("capacity: adaptive to a worker's speed", () => {
  const slow = (meanMs: number, w: WorkerSpec = {}) => workerState("w", { slots: 4, prefetch: 4, completed: 10, meanMs, ...w })

  it("is slots + prefetch, or slots alone, when speed is unknown", () => {
    const w = workerState("w", { slots: 3, prefetch: 5 })
    expect(capacity(w, undefined)).toBe(8)
    expect(capacity(w, undefined, true)).toBe(3)
    expect(capacity(w, 10)).toBe(8) // no completed tasks: no speed
    expect(capacity(slow(1000, { completed: 9 }), 10)).toBe(8) // 9 samples are not enough
    expect(capacity(slow(1000), undefined)).toBe(8) // no cluster mean (fewer than two workers with samples)
  })

  it("one task at a time at 2x the cluster mean or more", () => {
    expect(capacity(slow(60), 30)).toBe(1)
    expect(capacity(slow(61), 30)).toBe(1)
    expect(capacity(slow(1000), 30)).toBe(1)
    expect(capacity(slow(60), 30, true)).toBe(1)
  })

  it("half its capacity (rounded up) from 1.5x to 2x", () => {
    expect(capacity(slow(45), 30)).toBe(4) // 8 / 2
    expect(capacity(slow(59.9), 30)).toBe(4)
    expect(capacity(slow(45), 30, true)).toBe(2) // slots only: 4 / 2
    expect(capacity(slow(45, { slots: 3, prefetch: 2 }), 30)).toBe(3) // ceil(5 / 2)
    expect(capacity(slow(45, { slots: 3, prefetch: 2 }), 30, true)).toBe(2) // ceil(3 / 2)
    expect(capacity(slow(45, { slots: 1, prefetch: 0 }), 30)).toBe(1) // never 0
  })

  it("unchanged below 1.5x", () => {
    expect(capacity(slow(44.9), 30)).toBe(8)
    expect(capacity(slow(30), 30)).toBe(8)
    expect(capacity(slow(1), 30)).toBe(8) // fast workers are not boosted either
  })

  it("unchanged unless also at least 10 ms slower than the mean", () => {
    expect(capacity(slow(12), 5)).toBe(8) // 2.4x, but only 7 ms slower
    expect(capacity(slow(19.99), 10)).toBe(8) // ~2x, 9.99 ms slower
    expect(capacity(slow(20), 10)).toBe(1) // 2x and exactly 10 ms slower
    expect(capacity(slow(15), 5)).toBe(1) // 3x, 10 ms slower
    expect(capacity(slow(30), 20)).toBe(4) // 1.5x, 10 ms slower
  })

  it("freeCapacity subtracts held leases and leases in flight", () => {
    const w = workerState("w1", { slots: 4, prefetch: 2, leases: 3 })
    const inFlight = new InFlight()
    expect(freeCapacity(w, inFlight, undefined)).toBe(3)
    expect(freeCapacity(w, inFlight, undefined, true)).toBe(1)
    const release = inFlight.hold({ type: "TaskLeased", workerId: "w1", leases: [0, 1].map((index) => ({ jobId: "j", index, attempt: 1, kind: "sum", input: {}, deadline: 0 })) })
    expect(freeCapacity(w, inFlight, undefined)).toBe(1)
    expect(freeCapacity(w, inFlight, undefined, true)).toBe(-1) // over its running slots: the prefetch queue is in use
    release()
    expect(freeCapacity(w, inFlight, undefined)).toBe(3)
  })
})

describe("capacity in plan", () => {
  it("a worker at 2x the cluster mean gets one task", () => {
    // mean = (200 + 200 + 1000) / 50 = 28 ms; w3 at 100 ms.
    expect(dealtAfter({ w1: [20, 10], w2: [20, 10], w3: [10, 100] })).toEqual({ w1: 4, w2: 4, w3: 1 })
  })

  it("a worker at 1.5x gets half its slots", () => {
    // mean = (400 + 250) / 50 = 13 ms; w3 at 25 ms: 1.92x, 12 ms slower.
    expect(dealtAfter({ w1: [20, 10], w2: [20, 10], w3: [10, 25] })).toEqual({ w1: 4, w2: 4, w3: 2 })
  })

  it("a slow worker that already holds a lease gets nothing more", () => {
    const spec = F.sumSpec(1, 1000, 20)
    const log = cluster(spec, { w1: 4, w2: 4, w3: 4 }, true)
    warmUp(log, { w1: [20, 10], w2: [20, 10], w3: [10, 100] })
    log.apply(F.tasksScheduled(JOB, 20, { ts: 4000 }), F.taskLeased("w3", [{ jobId: JOB, index: 19, attempt: 1 }], { ts: 4000 }))
    expect(countsByWorker(plan(log.state, new InFlight(), NOW, options))).toEqual({ w1: 4, w2: 4 })
  })

  it("no adaptation below 10 ms of difference, with fewer than 10 samples, or with fewer than 2 measured workers", () => {
    const full = { w1: 4, w2: 4, w3: 4 }
    expect(dealtAfter({ w1: [20, 1], w2: [20, 1], w3: [10, 5] })).toEqual(full) // 2.8x, but 3.2 ms slower
    expect(dealtAfter({ w1: [20, 10], w2: [20, 10], w3: [9, 1000] })).toEqual(full) // 9 samples
    expect(dealtAfter({ w1: [9, 10], w2: [9, 10], w3: [10, 1000] })).toEqual(full) // only w3 is measured: no cluster mean
  })

  it("the mean is over live workers only", () => {
    // With w2 (gone) counted, w3 would be at 2.6x (one slot); without, at 1.9x (half).
    const log = cluster(F.sumSpec(1, 1000, 20), { w1: 4, w2: 4, w3: 4 }, true)
    warmUp(log, { w1: [20, 10], w2: [40, 10], w3: [10, 35] })
    log.apply(F.workerLeft("w2", { ts: 3500 }), F.tasksScheduled(JOB, 20, { ts: 4000 }))
    expect(clusterMeanMs(log.state)).toBeCloseTo(550 / 30)
    expect(countsByWorker(plan(log.state, new InFlight(), NOW, options))).toEqual({ w1: 4, w3: 2 })
  })
})

describe("pickSlot", () => {
  const slots = (free: Record<string, number>): Slot[] => Object.entries(free).map(([workerId, n]) => ({ workerId, kinds: ["sum"], free: n }))
  const fresh = (): Rotation => ({ roundRobin: 0, lastPicked: -1 })
  /** Picks until every slot is full, taking one unit per pick, like the scheduler. */
  const dealAll = (s: Slot[], policy: Placement, memory: Rotation, random: () => number = () => 0.5): string[] => {
    const out: string[] = []
    for (let slot = pickSlot(s, policy, memory, random); slot !== undefined; slot = pickSlot(s, policy, memory, random)) {
      slot.free--
      out.push(slot.workerId)
    }
    return out
  }

  it("undefined when every slot is full, whatever the policy", () => {
    for (const policy of ["least-loaded", "random", "round-robin"] as const) {
      expect(pickSlot([], policy, fresh(), () => 0.5)).toBeUndefined()
      expect(pickSlot(slots({ a: 0, b: 0 }), policy, fresh(), () => 0.5)).toBeUndefined()
    }
  })

  it("least-loaded: the most free capacity first; equal ones interleave", () => {
    expect(dealAll(slots({ a: 2, b: 2, c: 2 }), "least-loaded", fresh())).toEqual(["a", "b", "c", "a", "b", "c"])
    expect(dealAll(slots({ a: 1, b: 3 }), "least-loaded", fresh())).toEqual(["b", "b", "a", "b"])
    expect(dealAll(slots({ a: 1, b: 3, c: 1 }), "least-loaded", fresh())).toEqual(["b", "b", "c", "a", "b"])
    // Ties rotate after the last pick.
    expect(dealAll(slots({ a: 1, b: 1, c: 1 }), "least-loaded", { roundRobin: 0, lastPicked: 1 })).toEqual(["c", "a", "b"])
  })

  it("round-robin: one after another, continuing where the memory left off", () => {
    const memory = fresh()
    const s = slots({ a: 10, b: 10, c: 10 })
    const picks = Array.from({ length: 7 }, () => {
      const slot = pickSlot(s, "round-robin", memory, () => 0.5)!
      slot.free--
      return slot.workerId
    })
    expect(picks).toEqual(["b", "c", "a", "b", "c", "a", "b"])
    expect(memory.roundRobin).toBe(7)
    // Full slots are skipped.
    expect(dealAll(slots({ a: 1, b: 0, c: 2 }), "round-robin", fresh())).toEqual(["c", "a", "c"])
  })

  it("random: open[floor(random() x open)], full slots skipped", () => {
    expect(dealAll(slots({ a: 2, b: 2, c: 2 }), "random", fresh(), () => 0)).toEqual(["a", "a", "b", "b", "c", "c"])
    expect(dealAll(slots({ a: 2, b: 2, c: 2 }), "random", fresh(), () => 0.999_999)).toEqual(["c", "c", "b", "b", "a", "a"])
    expect(pickSlot(slots({ a: 1, b: 0, c: 1, d: 1 }), "random", fresh(), () => 0.5)?.workerId).toBe("c")
    const rand = prng(42)
    const expected = prng(42)
    const s = slots({ a: 5, b: 5, c: 5, d: 5 })
    for (let i = 0; i < 20; i++) {
      const open = s.filter((x) => x.free > 0)
      const want = open[Math.floor(expected() * open.length)]!.workerId
      const slot = pickSlot(s, "random", fresh(), rand)!
      expect(slot.workerId).toBe(want)
      slot.free--
    }
  })
})

describe("placement policies in plan", () => {
  const withPlacement = (placement: Placement, workers: Record<string, number>, tasks: number): { log: F.Log; spec: ResolvedSpec } => {
    const spec = F.sumSpec(1, 1000, tasks, { placement })
    return { log: cluster(spec, workers), spec }
  }

  /** Every task leased at most once, each worker within its free capacity. */
  const expectSound = (log: F.Log, drafts: ReturnType<typeof plan>) => {
    const all = Object.values(indexesByWorker(drafts)).flat()
    expect(new Set(all).size).toBe(all.length)
    for (const [workerId, n] of Object.entries(countsByWorker(drafts))) {
      const w = workerOf(log, workerId)
      expect(n).toBeLessThanOrEqual(w.slots + w.prefetch - w.leases.size)
    }
  }

  it("least-loaded interleaves equal workers and fills them evenly", () => {
    const { log } = withPlacement("least-loaded", { w1: 2, w2: 2, w3: 2 }, 6)
    const drafts = plan(log.state, new InFlight(), NOW, options)
    expect(countsByWorker(drafts)).toEqual({ w1: 2, w2: 2, w3: 2 })
    // Consecutive tasks land on different workers.
    const where = new Map<number, string>()
    for (const d of leasesOf(drafts)) for (const l of d.leases) where.set(l.index, d.workerId)
    for (let i = 1; i < 6; i++) expect(where.get(i)).not.toBe(where.get(i - 1))
    expectSound(log, drafts)
  })

  it("least-loaded sends the first tasks to the freest worker", () => {
    const { log } = withPlacement("least-loaded", { w1: 1, w2: 6, w3: 2 }, 3)
    const drafts = plan(log.state, new InFlight(), NOW, options)
    expect(countsByWorker(drafts)).toEqual({ w2: 3 }) // 6 > 5 > 4 > 2
  })

  it("round-robin continues across passes (InFlight.placement)", () => {
    const spec = F.sumSpec(1, 10, 1, { placement: "round-robin" })
    const workersOnly = () =>
      new F.Log().apply(F.coordinatorElected(1), ...["w1", "w2", "w3"].map((id) => F.workerJoined(id, 10)))
    const log = workersOnly()
    const inFlight = new InFlight()
    const placed: string[] = []
    for (let pass = 0; pass < 7; pass++) {
      const jobId = `rr-${pass}`
      log.apply(F.jobSubmitted(jobId, spec, { ts: NOW + pass }), F.tasksScheduled(jobId, 1, { ts: NOW + pass }))
      const leased = leasesOf(decideAndFold(log, inFlight, NOW + pass))
      expect(leased).toHaveLength(1)
      placed.push(leased[0]!.workerId)
    }
    // Every window of three consecutive passes covers the three workers, and the cycle repeats.
    for (let i = 0; i + 3 <= placed.length; i++) expect(new Set(placed.slice(i, i + 3)).size).toBe(3)
    for (let i = 0; i + 3 < placed.length; i++) expect(placed[i + 3]).toBe(placed[i])
    expect(inFlight.placement.roundRobin).toBe(7)
    // Without the memory (a fresh InFlight each pass), every pass would start over at the same worker.
    const log2 = workersOnly()
    const fresh: string[] = []
    for (let pass = 0; pass < 3; pass++) {
      const jobId = `rr-${pass}`
      log2.apply(F.jobSubmitted(jobId, spec, { ts: NOW + pass }), F.tasksScheduled(jobId, 1, { ts: NOW + pass }))
      fresh.push(leasesOf(decideAndFold(log2, new InFlight(), NOW + pass))[0]!.workerId)
    }
    expect(new Set(fresh).size).toBe(1)
  })

  it("round-robin within one pass deals one task per worker in turn", () => {
    const { log } = withPlacement("round-robin", { w1: 4, w2: 4, w3: 4 }, 9)
    const drafts = plan(log.state, new InFlight(), NOW, options)
    expect(countsByWorker(drafts)).toEqual({ w1: 3, w2: 3, w3: 3 })
    expectSound(log, drafts)
  })

  it("random follows options.random: deterministic with a seeded function, sound whatever the seed", () => {
    const { log } = withPlacement("random", { w1: 5, w2: 3, w3: 4 }, 10)
    const seeded = (seed: number): SchedulerOptions => ({ ...options, random: prng(seed) })
    const a = plan(log.state, new InFlight(), NOW, seeded(7))
    const b = plan(log.state, new InFlight(), NOW, seeded(7))
    expect(a).toEqual(b)
    for (let seed = 0; seed < 50; seed++) {
      const drafts = plan(log.state, new InFlight(), NOW, seeded(seed))
      expect(Object.values(countsByWorker(drafts)).reduce((x, y) => x + y, 0)).toBe(10)
      expectSound(log, drafts)
    }
    // Different seeds do place differently.
    const placements = new Set(Array.from({ length: 20 }, (_, seed) => JSON.stringify(indexesByWorker(plan(log.state, new InFlight(), NOW, seeded(seed))))))
    expect(placements.size).toBeGreaterThan(1)
    // random() = 0 always takes the first open worker: w1 fills up, then w2, then w3.
    expect(indexesByWorker(plan(log.state, new InFlight(), NOW, { ...options, random: () => 0 }))).toEqual({
      w1: [0, 1, 2, 3, 4],
      w2: [5, 6, 7],
      w3: [8, 9]
    })
  })

  it("the placement field of each job's spec is honoured", () => {
    const workers = { w1: 4, w2: 4 }
    const random0: SchedulerOptions = { ...options, random: () => 0 }
    const counts = (placement: Placement) => countsByWorker(plan(withPlacement(placement, workers, 4).log.state, new InFlight(), NOW, random0))
    expect(counts("random")).toEqual({ w1: 4 })
    expect(counts("least-loaded")).toEqual({ w1: 2, w2: 2 })
    expect(counts("round-robin")).toEqual({ w1: 2, w2: 2 })
    // Two jobs in one pass, each placed by its own policy.
    const log = cluster(F.sumSpec(1, 1000, 2, { placement: "random" }), workers)
    log.apply(F.jobSubmitted("j-2", F.sumSpec(1, 1000, 2, { placement: "least-loaded" })), F.tasksScheduled("j-2", 2))
    const placed = leasesOf(plan(log.state, new InFlight(), NOW, random0)).flatMap((d) => d.leases.map((l) => `${l.jobId}:${l.index}@${d.workerId}`))
    // j-1 (random, random() = 0) goes to w1; j-2 (least-loaded) then goes to w2, which has more room.
    expect(placed.sort()).toEqual([`${JOB}:0@w1`, `${JOB}:1@w1`, "j-2:0@w2", "j-2:1@w2"])
  })
})
