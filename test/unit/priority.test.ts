// The scheduler and jobs of user-defined tasks: priorities with aging, delayed jobs, retries coming due,
// placement by task name, lease events bounded in bytes, and how task jobs end.
import { describe, expect, it } from "vitest"
import { InFlight, MAX_INLINE_OUTPUT_BYTES, effectivePriority, plan, type Draft, type SchedulerOptions, type Wake } from "../../src/coordinator/scheduler.ts"
import { resolveSpec, type ResolvedSpec } from "../../src/domain/job-spec.ts"
import type { JobState } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"

const options: SchedulerOptions = { maxLeasesPerEvent: 512, random: () => 0.5, sharing: "fifo" }
const NOW = 10_000

type Leased = Extract<Draft, { type: "TaskLeased" }>
const leasedEvents = (drafts: Draft[]): Leased[] => drafts.filter((d): d is Leased => d.type === "TaskLeased")
/** Every lease of a plan as `jobId/index`, in event order. */
const leased = (drafts: Draft[]): string[] => leasedEvents(drafts).flatMap((d) => d.leases.map((l) => `${l.jobId}/${l.index}`))

/** A task job of `n` inputs `in-0`, `in-1`... for task `upper`. */
const taskSpec = (n: number, extra: Record<string, unknown> = {}, inputs?: unknown[]): ResolvedSpec =>
  resolveSpec({ kind: "task", task: "upper", inputs: inputs ?? Array.from({ length: n }, (_, i) => `in-${i}`), ...extra }, 0)

/** A log with epoch 1 and the given workers (id -> slots), all running task `upper`. */
const clusterOf = (workers: Record<string, number>, kinds: string[] = ["upper"]): F.Log => {
  const log = new F.Log().apply(F.coordinatorElected(1))
  for (const [id, slots] of Object.entries(workers)) log.apply(F.workerJoined(id, slots, { kinds }))
  return log
}

/** Submits and schedules a job at `ts`. */
const running = (log: F.Log, jobId: string, spec: ResolvedSpec, ts = NOW): F.Log =>
  log.apply(F.jobSubmitted(jobId, spec, { ts }), F.tasksScheduled(jobId, spec.tasks, { ts }))

const jobOf = (log: F.Log, jobId: string): JobState => log.state.jobs.get(jobId) as JobState

describe("effectivePriority", () => {
  it("is the priority plus one level per agingMs since the last lease, else the start, else the submission", () => {
    const log = clusterOf({ w1: 1 })
    log.apply(F.jobSubmitted("j", taskSpec(3, { priority: 2, agingMs: 1000 }), { ts: 1000 }))
    expect(effectivePriority(jobOf(log, "j"), 3500)).toBe(4.5)
    log.apply(F.tasksScheduled("j", 3, { ts: 3000 }))
    expect(effectivePriority(jobOf(log, "j"), 3500)).toBe(2.5)
    log.apply(F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 1 }], { ts: 3400 }))
    expect(effectivePriority(jobOf(log, "j"), 3500)).toBeCloseTo(2.1, 10)
    // Never negative aging: a clock behind the last lease adds nothing.
    expect(effectivePriority(jobOf(log, "j"), 3000)).toBe(2)
  })
})

describe("plan: priorities", () => {
  it("a higher-priority job gets free capacity first; a lower one takes what is left", () => {
    const log = clusterOf({ w1: 3 })
    running(log, "lo", taskSpec(5, { priority: 0 }))
    running(log, "hi", taskSpec(2, { priority: 1 }))
    expect(leased(plan(log.state, new InFlight(), NOW, options))).toEqual(["hi/0", "hi/1", "lo/0"])
  })

  it("a low-priority job that waited long enough without a lease overtakes; one that did not, does not", () => {
    const build = (loStartedAt: number): F.Log => {
      const log = clusterOf({ w1: 2 })
      running(log, "lo", taskSpec(5, { priority: 0, agingMs: 1000 }), loStartedAt)
      running(log, "hi", taskSpec(5, { priority: 1, agingMs: 1000 }), 1000)
      // hi got a lease just now: one slot left.
      return log.apply(F.taskLeased("w1", [{ jobId: "hi", index: 0, attempt: 1 }], { ts: 9_500 }))
    }
    const waited = build(1000) // lo: 0 + 9000/1000 = 9 > hi: 1 + 500/1000 = 1.5
    expect(effectivePriority(jobOf(waited, "lo"), NOW)).toBe(9)
    expect(effectivePriority(jobOf(waited, "hi"), NOW)).toBe(1.5)
    expect(leased(plan(waited.state, new InFlight(), NOW, options))).toEqual(["lo/0"])
    const fresh = build(9_000) // lo: 0 + 1000/1000 = 1 < 1.5
    expect(leased(plan(fresh.state, new InFlight(), NOW, options))).toEqual(["hi/1"])
  })

  it("equal priorities keep submission order", () => {
    const log = clusterOf({ w1: 3 })
    running(log, "a", taskSpec(2))
    running(log, "b", taskSpec(2))
    expect(leased(plan(log.state, new InFlight(), NOW, options))).toEqual(["a/0", "a/1", "b/0"])
  })

  it("among mixed priorities, jobs of equal score keep submission order behind the higher one", () => {
    const log = clusterOf({ w1: 5 })
    running(log, "a", taskSpec(2, { priority: 0 }))
    running(log, "b", taskSpec(2, { priority: 0 }))
    running(log, "c", taskSpec(2, { priority: 1 }))
    expect(leased(plan(log.state, new InFlight(), NOW, options))).toEqual(["c/0", "c/1", "a/0", "a/1", "b/0"])
  })

  it("jobs scheduled in this very pass are leased by priority too", () => {
    const log = clusterOf({ w1: 1 })
    log.apply(F.jobSubmitted("lo", taskSpec(2, { priority: "low" }), { ts: NOW }))
    log.apply(F.jobSubmitted("hi", taskSpec(2, { priority: "high" }), { ts: NOW }))
    const drafts = plan(log.state, new InFlight(), NOW, options)
    expect(drafts.filter((d) => d.type === "TasksScheduled")).toEqual([
      { type: "TasksScheduled", jobId: "lo", count: 2 },
      { type: "TasksScheduled", jobId: "hi", count: 2 }
    ])
    expect(leased(drafts)).toEqual(["hi/0"])
  })
})

describe("plan: delayed jobs", () => {
  it("a queued job whose runAt is still ahead gets nothing and sets wake.at to its runAt", () => {
    const log = clusterOf({ w1: 4 })
    log.apply(F.jobSubmitted("d", taskSpec(2, { runAt: 20_000 }), { ts: 1000 }))
    const wake: Wake = { at: Infinity }
    expect(plan(log.state, new InFlight(), NOW, options, wake)).toEqual([])
    expect(wake.at).toBe(20_000)
    const earlier: Wake = { at: 15_000 }
    plan(log.state, new InFlight(), NOW, options, earlier)
    expect(earlier.at).toBe(15_000)
  })

  it("at runAt it gets TasksScheduled and its first TaskLeased in the same pass", () => {
    const log = clusterOf({ w1: 4 })
    log.apply(F.jobSubmitted("d", taskSpec(2, { runAt: 20_000 }), { ts: 1000 }))
    const wake: Wake = { at: Infinity }
    expect(plan(log.state, new InFlight(), 20_000, options, wake)).toEqual([
      { type: "TasksScheduled", jobId: "d", count: 2 },
      {
        type: "TaskLeased",
        workerId: "w1",
        leases: [0, 1].map((index) => ({ jobId: "d", index, attempt: 1, kind: "upper", input: `in-${index}`, deadline: 30_000 }))
      }
    ])
    expect(wake.at).toBe(Infinity)
  })

  // Found as a bug: the wait used to count from submittedAt, so a delayed job collected aging for its whole
  // delay (here -5 + 99 = 94 against 6) and took the slot in the pass it came due.
  it("a delayed job does not gain priority from the time it was delayed", () => {
    const log = clusterOf({ w1: 1 })
    log.apply(F.jobSubmitted("late", taskSpec(3, { priority: -5, agingMs: 1000, runAt: 100_000 }), { ts: 1000 }))
    running(log, "urgent", taskSpec(3, { priority: 5, agingMs: 1000 }), 99_000)
    expect(effectivePriority(jobOf(log, "late"), 100_000)).toBe(-5)
    expect(effectivePriority(jobOf(log, "urgent"), 100_000)).toBe(6)
    expect(leased(plan(log.state, new InFlight(), 100_000, options))).toEqual(["urgent/0"])
    // From its runAt on it ages like any other job.
    expect(effectivePriority(jobOf(log, "late"), 103_000)).toBe(-2)
  })
})

describe("plan: retries coming due", () => {
  const failed = (): F.Log => {
    const log = clusterOf({ w1: 2 })
    running(log, "j", taskSpec(1), 1000)
    log.apply(F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 1 }], { ts: 1000 }))
    return log.apply(F.taskFailed("w1", [{ jobId: "j", index: 0, attempt: 1, error: "flaky", retryable: true }], { ts: 2000 }))
  }

  it("a RetryScheduled decision sets wake.at to its notBefore", () => {
    const wake: Wake = { at: Infinity }
    expect(plan(failed().state, new InFlight(), NOW, options, wake)).toEqual([
      { type: "RetryScheduled", jobId: "j", index: 0, attempt: 1, delayMs: 200, notBefore: NOW + 200, reason: "flaky" }
    ])
    expect(wake.at).toBe(NOW + 200)
  })

  it("a retry not yet due is not leased and sets wake.at; at notBefore its next attempt is leased", () => {
    const log = failed().apply(F.retryScheduled("j", 0, 1, 15_000, { ts: 2000 }))
    const wake: Wake = { at: Infinity }
    expect(plan(log.state, new InFlight(), NOW, options, wake)).toEqual([])
    expect(wake.at).toBe(15_000)
    const due = plan(log.state, new InFlight(), 15_000, options)
    expect(leasedEvents(due).flatMap((d) => d.leases.map((l) => [l.index, l.attempt]))).toEqual([[0, 2]])
  })
})

describe("plan: placement by task name", () => {
  it("leases of a task job carry the task name as kind and go only to workers that advertised it", () => {
    const log = new F.Log().apply(
      F.coordinatorElected(1),
      F.workerJoined("w-sum", 4),
      F.workerJoined("w-up", 2, { kinds: ["lower", "upper"] })
    )
    running(log, "j", taskSpec(3))
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([
      {
        type: "TaskLeased",
        workerId: "w-up",
        leases: [0, 1].map((index) => ({ jobId: "j", index, attempt: 1, kind: "upper", input: `in-${index}`, deadline: NOW + 10_000 }))
      }
    ])
  })

  it("a task job that no live worker runs waits, while a sum job beside it is leased", () => {
    const log = new F.Log().apply(F.coordinatorElected(1), F.workerJoined("w-sum", 4))
    running(log, "t", taskSpec(3, { priority: 10 }))
    running(log, "s", F.sumSpec(1, 100, 2))
    const drafts = plan(log.state, new InFlight(), NOW, options)
    expect(leased(drafts)).toEqual(["s/0", "s/1"])
    expect(leasedEvents(drafts).flatMap((d) => d.leases.map((l) => l.kind))).toEqual(["sum", "sum"])
  })
})

describe("plan: TaskLeased events bounded in bytes of input", () => {
  const bigInputs = (n: number, text: string): unknown[] => Array.from({ length: n }, () => text)
  const chunks = (drafts: Draft[]): number[][] => leasedEvents(drafts).map((d) => d.leases.map((l) => l.index))

  it("splits one worker's leases by maxLeaseBytesPerEvent, and inputBytes never reaches a draft", () => {
    const log = clusterOf({ w1: 4 })
    running(log, "j", taskSpec(4, {}, bigInputs(4, "x".repeat(100)))) // 102 bytes of JSON each
    const drafts = plan(log.state, new InFlight(), NOW, { ...options, maxLeaseBytesPerEvent: 250 })
    expect(chunks(drafts)).toEqual([[0, 1], [2, 3]])
    expect(leasedEvents(drafts).every((d) => d.workerId === "w1")).toBe(true)
    for (const lease of leasedEvents(drafts).flatMap((d) => d.leases)) expect(Object.keys(lease).sort()).toEqual(["attempt", "deadline", "index", "input", "jobId", "kind"])
  })

  it("an input larger than the bound travels alone, and the count bound still holds", () => {
    const log = clusterOf({ w1: 4 })
    running(log, "j", taskSpec(4, {}, bigInputs(4, "x".repeat(100))))
    expect(chunks(plan(log.state, new InFlight(), NOW, { ...options, maxLeaseBytesPerEvent: 50 }))).toEqual([[0], [1], [2], [3]])
    expect(chunks(plan(log.state, new InFlight(), NOW, { ...options, maxLeasesPerEvent: 3 }))).toEqual([[0, 1, 2], [3]])
  })

  // Found as a bug: inputs were measured in UTF-16 code units (`.length`), so two inputs of 100 'é'
  // (102 units, 202 bytes each) shared one event of 404 bytes under a bound of 250.
  it("bounds lease events in UTF-8 bytes, not characters", () => {
    const log = clusterOf({ w1: 4 })
    running(log, "j", taskSpec(4, {}, bigInputs(4, "é".repeat(100))))
    const drafts = plan(log.state, new InFlight(), NOW, { ...options, maxLeaseBytesPerEvent: 250 })
    for (const event of leasedEvents(drafts)) {
      const bytes = event.leases.reduce((n, l) => n + Buffer.byteLength(JSON.stringify(l.input)), 0)
      expect(bytes).toBeLessThanOrEqual(250)
    }
    expect(chunks(drafts)).toEqual([[0], [1], [2], [3]])
  })
})

describe("plan: how task jobs end", () => {
  const finished = (outputs: unknown[]): F.Log => {
    const log = clusterOf({ w1: outputs.length })
    running(log, "j", taskSpec(outputs.length))
    log.apply(F.taskLeased("w1", outputs.map((_, index) => ({ jobId: "j", index, attempt: 1 }))))
    // Reported in reverse order: the outputs still come out in input order.
    const results = outputs.map((result, index) => ({ jobId: "j", index, attempt: 1, result })).reverse()
    return log.apply(F.taskCompleted("w1", results))
  }

  it("JobCompleted carries the outputs in input order", () => {
    expect(plan(finished([{ n: 0 }, "one", [2]]).state, new InFlight(), NOW, options)).toEqual([
      { type: "JobCompleted", jobId: "j", result: "3 tasks completed", outputs: [{ n: 0 }, "one", [2]] }
    ])
    expect(plan(finished([null]).state, new InFlight(), NOW, options)).toEqual([{ type: "JobCompleted", jobId: "j", result: "1 task completed", outputs: [null] }])
  })

  it("outputs travel inline up to MAX_INLINE_OUTPUT_BYTES and are left out above it", () => {
    expect(MAX_INLINE_OUTPUT_BYTES).toBe(262_144)
    // ["xxx..."] is the string plus 4.
    expect(plan(finished(["x".repeat(MAX_INLINE_OUTPUT_BYTES - 4)]).state, new InFlight(), NOW, options)[0]).toHaveProperty("outputs")
    const over = plan(finished(["x".repeat(MAX_INLINE_OUTPUT_BYTES - 3)]).state, new InFlight(), NOW, options)
    expect(over).toEqual([{ type: "JobCompleted", jobId: "j", result: "1 task completed" }])
    expect("outputs" in (over[0] as Draft)).toBe(false)
  })

  it("MAX_INLINE_OUTPUT_BYTES counts UTF-8 bytes, not characters", () => {
    const drafts = plan(finished(["é".repeat(200_000)]).state, new InFlight(), NOW, options)
    expect(drafts).toEqual([{ type: "JobCompleted", jobId: "j", result: "1 task completed" }])
  })

  it("JobFailed names the task, its attempts, its error and whether it was retryable", () => {
    const log = clusterOf({ w1: 2 })
    running(log, "j", taskSpec(2))
    log.apply(F.taskLeased("w1", [{ jobId: "j", index: 1, attempt: 1 }]))
    log.apply(F.taskFailed("w1", [{ jobId: "j", index: 1, attempt: 1, error: "input.n: Expected number", retryable: false }]))
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([
      {
        type: "JobFailed",
        jobId: "j",
        reason: "task 1 failed (non-retryable error): input.n: Expected number",
        task: { index: 1, attempts: 1, error: "input.n: Expected number", retryable: false }
      }
    ])
  })

  it("a task out of attempts fails the job with retryable: true", () => {
    const log = clusterOf({ w1: 1 })
    running(log, "j", taskSpec(1, { maxAttempts: 1 }))
    log.apply(F.taskLeased("w1", [{ jobId: "j", index: 0, attempt: 1 }]))
    log.apply(F.taskFailed("w1", [{ jobId: "j", index: 0, attempt: 1, error: "boom", retryable: true }]))
    expect(plan(log.state, new InFlight(), NOW, options)).toEqual([
      { type: "JobFailed", jobId: "j", reason: "task 0 failed (gave up after 1 attempt): boom", task: { index: 0, attempts: 1, error: "boom", retryable: true } }
    ])
  })
})

describe("plan: first come, first served within a priority level", () => {
  it("keeps submission order among equal priorities, whatever their leases and whatever other levels wait", () => {
    const build = (withOtherLevel: boolean): F.Log => {
      const log = clusterOf({ w1: 1 })
      running(log, "a", taskSpec(3, { agingMs: 1000 }), 1000)
      running(log, "b", taskSpec(3, { agingMs: 1000 }), 2000)
      // a got a lease recently, b has waited since 2000: still a first (FIFO within the level).
      log.apply(F.taskLeased("w1", [{ jobId: "a", index: 0, attempt: 1 }], { ts: 9000 }))
      log.apply(F.taskCompleted("w1", [{ jobId: "a", index: 0, attempt: 1, result: "x" }], { ts: 9500 }))
      if (withOtherLevel) running(log, "low", taskSpec(1, { priority: -1, agingMs: 1_000_000 }), 9000)
      return log
    }
    expect(leased(plan(build(false).state, new InFlight(), NOW, options))).toEqual(["a/1"])
    expect(leased(plan(build(true).state, new InFlight(), NOW, options))).toEqual(["a/1"])
  })
})
