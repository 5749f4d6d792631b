// Retries through the coordinator loop, with an explicit clock that jumps to each retry's notBefore.
import { describe, expect, it } from "vitest"
import { expiredAttempts } from "../../src/coordinator/lease-expiry.ts"
import { plan, type Draft, type SchedulerOptions } from "../../src/coordinator/scheduler.ts"
import { TaskStatus } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"
import { cluster, completed, decideAndFold, InFlight, JOB, jobOf, options, publish, workerOf } from "./sim.ts"

const T0 = 10_000
/** How long the worker takes to fail an attempt. */
const RUN_MS = 5

type Trace = {
  readonly leased: Array<{ attempt: number; at: number; workerId: string }>
  readonly retries: Array<Extract<Draft, { type: "RetryScheduled" }>>
  readonly failed: string[]
  readonly end: number
}

/**
 * The coordinator loop for a job whose task `failing` always fails (the others succeed): plan at `now`,
 * fold the decisions, let the worker report RUN_MS later; the clock then jumps to the next moment
 * something is due (a report, or a retry's notBefore).
 */
const runUntilEnd = (spec: ReturnType<typeof F.sumSpec>, opts: SchedulerOptions, failing = 0, workers: Record<string, number> = { w1: 1 }) => {
  const log = cluster(spec, workers)
  const inFlight = new InFlight()
  const trace: Trace = { leased: [], retries: [], failed: [], end: 0 }
  let now = T0
  for (let step = 0; step < 100 && jobOf(log).phase === "running"; step++) {
    const drafts = decideAndFold(log, inFlight, now, opts)
    let next = now + RUN_MS
    for (const d of drafts) {
      if (d.type === "TaskLeased") {
        for (const l of d.leases) {
          if (l.index === failing) {
            trace.leased.push({ attempt: l.attempt, at: now, workerId: d.workerId })
            log.apply(F.taskFailed(d.workerId, [{ jobId: JOB, index: l.index, attempt: l.attempt, error: `boom ${l.attempt}`, retryable: true }], { ts: now + RUN_MS }))
          } else log.apply(completed(log, d.workerId, l.index, l.attempt, now + RUN_MS))
        }
      }
      if (d.type === "RetryScheduled") {
        trace.retries.push(d)
        // Not leased a moment before it is due.
        expect(plan(log.state, inFlight, d.notBefore - 1, opts).filter((x) => x.type === "TaskLeased" && x.leases.some((l) => l.index === failing))).toEqual([])
        next = d.notBefore
      }
      if (d.type === "JobFailed") trace.failed.push(d.reason)
    }
    now = next
  }
  return { log, inFlight, trace: { ...trace, end: now } }
}

describe("a task that always fails, maxAttempts 4", () => {
  const spec = F.sumSpec(1, 10, 1, { maxAttempts: 4 })

  it("is attempted exactly 4 times, each retry after a growing delay, then the job fails naming the task, the attempts and the last error", () => {
    const { log, inFlight, trace } = runUntilEnd(spec, { ...options, random: () => 0.5 })
    expect(trace.leased.map((l) => l.attempt)).toEqual([1, 2, 3, 4])
    expect(trace.retries.map((r) => r.attempt)).toEqual([1, 2, 3])
    expect(trace.retries.map((r) => r.reason)).toEqual(["boom 1", "boom 2", "boom 3"])
    const delays = trace.retries.map((r) => r.delayMs)
    expect(delays).toEqual([200, 400, 800])
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThan(delays[i - 1]!)
    // Each retry was leased exactly at its notBefore: the clock jumped there, never earlier.
    for (let i = 0; i < trace.retries.length; i++) {
      const retry = trace.retries[i]!
      expect(retry.notBefore).toBe(trace.leased[i]!.at + RUN_MS + retry.delayMs)
      expect(trace.leased[i + 1]!.at).toBe(retry.notBefore)
    }
    expect(trace.failed).toHaveLength(1)
    const reason = trace.failed[0]!
    expect(reason).toBe("task 0 failed (gave up after 4 attempts): boom 4")
    expect(reason).toContain("task 0")
    expect(reason).toContain("4 attempts")
    expect(reason).toContain("boom 4")
    const job = jobOf(log)
    expect(job).toMatchObject({ phase: "failed", reason, failures: 4, done: 0, endedAt: trace.end - RUN_MS })
    expect(job.attempts[0]).toBe(4)
    expect(workerOf(log, "w1")).toMatchObject({ failed: 4, completed: 0, assigned: 4 })
    expect(workerOf(log, "w1").leases.size).toBe(0)
    expect(log.state.rejectedCount).toBe(0)
    // The job is over: nothing more is decided, however late.
    expect(plan(log.state, inFlight, trace.end + 3_600_000, options)).toEqual([])
  })

  it("the delays grow strictly whatever the jitter (exponential x2 beats ±20 %)", () => {
    for (const r of [0, 0.25, 0.5, 0.75, 0.999_999]) {
      const { trace } = runUntilEnd(spec, { ...options, random: () => r })
      const delays = trace.retries.map((x) => x.delayMs)
      expect(delays).toHaveLength(3)
      for (let i = 1; i < delays.length; i++) expect(delays[i]!, `random ${r}`).toBeGreaterThan(delays[i - 1]!)
      expect(trace.failed).toEqual(["task 0 failed (gave up after 4 attempts): boom 4"])
    }
  })

  it("the other tasks of the job still complete meanwhile; the failing task alone fails the job", () => {
    const spec4 = F.sumSpec(1, 40, 4, { maxAttempts: 4 })
    const { log, trace } = runUntilEnd(spec4, { ...options, random: () => 0.5 }, 2, { w1: 2, w2: 2 })
    expect(trace.leased.map((l) => l.attempt)).toEqual([1, 2, 3, 4])
    expect(trace.failed).toEqual(["task 2 failed (gave up after 4 attempts): boom 4"])
    expect(jobOf(log)).toMatchObject({ phase: "failed", done: 3, failures: 4 })
    expect([...jobOf(log).status]).toEqual([TaskStatus.Done, TaskStatus.Done, TaskStatus.NeedsDecision, TaskStatus.Done])
  })

  it("delays stop growing at backoffMaxMs, never above it", () => {
    const capped = F.sumSpec(1, 10, 1, { maxAttempts: 6, backoffMs: 200, backoffMaxMs: 700 })
    const { trace } = runUntilEnd(capped, { ...options, random: () => 0.5 })
    expect(trace.retries.map((r) => r.delayMs)).toEqual([200, 400, 700, 700, 700])
    expect(trace.failed).toEqual(["task 0 failed (gave up after 6 attempts): boom 6"])
  })

  it("a reclaimed attempt counts as an attempt too", () => {
    // Attempts 1 and 2 hang (their leases expire), 3 and 4 fail.
    const hung = F.sumSpec(1, 10, 1, { maxAttempts: 4, leaseMs: 1000 })
    const log = cluster(hung, { w1: 1 })
    const inFlight = new InFlight()
    const reasons: string[] = []
    let now = T0
    for (let step = 0; step < 100 && jobOf(log).phase === "running"; step++, now += 100) {
      publish(log, inFlight, expiredAttempts(log.state, inFlight, now, 0), now)
      for (const d of decideAndFold(log, inFlight, now)) {
        if (d.type === "RetryScheduled" || d.type === "JobFailed") reasons.push(d.reason)
        if (d.type === "TaskLeased") {
          for (const l of d.leases) {
            if (l.attempt <= 2) continue
            log.apply(F.taskFailed("w1", [{ jobId: JOB, index: 0, attempt: l.attempt, error: `boom ${l.attempt}`, retryable: true }], { ts: now }))
          }
        }
      }
    }
    expect(reasons).toEqual([
      "reclaimed: lease expired: no beat for 1100 ms",
      "reclaimed: lease expired: no beat for 1100 ms",
      "boom 3",
      "task 0 failed (gave up after 4 attempts): boom 4"
    ])
    expect(jobOf(log)).toMatchObject({ phase: "failed", failures: 4 })
    expect(jobOf(log).attempts[0]).toBe(4)
  })
})
