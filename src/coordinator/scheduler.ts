// The scheduler: a pure function from (state, decisions in flight, now) to the next decisions.
// Decisions in flight are the coordinator's own events that are published but not yet folded; the
// overlay keeps the scheduler from deciding the same thing twice while they travel through the log.
import { taskInput, taskKind, type ResolvedSpec } from "../domain/job-spec.ts"
import { jsonByteLength } from "../domain/json.ts"
import { TaskStatus, type ClusterState, type JobState } from "../projections/state.ts"
import { canRun, clusterMeanMs, freeCapacity, pickSlot, type Rotation, type Slot } from "./placement.ts"
import { decideShares, type ShareDraft } from "./fair-share.ts"
import { batchCount, batchRows } from "../domain/infer-spec.ts"

export type LeaseDraft = {
  jobId: string
  index: number
  attempt: number
  kind: string
  input: unknown
  deadline: number
  speculative?: boolean
  /** Size of the input as JSON, to bound events (not part of the event). */
  inputBytes?: number
}

export type Draft =
  | { readonly type: "TasksScheduled"; readonly jobId: string; readonly count: number }
  | { readonly type: "JobCancelled"; readonly jobId: string; readonly reason: string }
  | { readonly type: "JobCompleted"; readonly jobId: string; readonly result: string; readonly outputs?: ReadonlyArray<unknown> }
  | {
      readonly type: "JobFailed"
      readonly jobId: string
      readonly reason: string
      readonly task?: { index: number; attempts: number; error: string; retryable: boolean }
    }
  | {
      readonly type: "RetryScheduled"
      readonly jobId: string
      readonly index: number
      readonly attempt: number
      readonly delayMs: number
      readonly notBefore: number
      readonly reason: string
    }
  | { readonly type: "TaskLeased"; readonly workerId: string; readonly leases: LeaseDraft[] }
  | { readonly type: "WorkerLost"; readonly workerId: string; readonly reason: string }
  | ShareDraft
  | { readonly type: "JobsExpired"; readonly jobIds: ReadonlyArray<string>; readonly reason: string }
  | { readonly type: "BatchSizeChanged"; readonly jobId: string; readonly batchSize: number; readonly fromTask: number; readonly fromRow: number; readonly count: number }
  | {
      readonly type: "TaskReclaimed" | "AttemptAborted"
      readonly workerId: string
      readonly jobId: string
      readonly index: number
      readonly attempt: number
      readonly reason: string
    }

/** What the coordinator has published and not yet seen folded. */
export class InFlight {
  readonly keys = new Set<string>()
  readonly slots = new Map<string, number>()
  /** Speculative copies on their way, per job: they count against the job's maxSpeculative. */
  readonly copies = new Map<string, number>()
  /** Where the round-robin placement policy continues, pass after pass. */
  readonly placement = { roundRobin: 0 }
  /** Leases on their way, per job: they count against the job's fair-share quota. */
  readonly jobLeases = new Map<string, number>()
  /** A fair-share split on its way: in force from the moment it is published. */
  shares: ShareDraft | undefined

  /** Registers a draft as in flight; returns the function that releases it. */
  hold(draft: Draft): () => void {
    const keys = draftKeys(draft)
    for (const key of keys) this.keys.add(key)
    const perJob = draft.type === "TaskLeased" ? countByJob(draft.leases) : undefined
    for (const [jobId, n] of perJob ?? []) this.jobLeases.set(jobId, (this.jobLeases.get(jobId) ?? 0) + n)
    if (draft.type === "SharesAllocated") this.shares = draft
    const workerId = draft.type === "TaskLeased" ? draft.workerId : undefined
    const n = draft.type === "TaskLeased" ? draft.leases.length : 0
    if (workerId !== undefined) this.slots.set(workerId, (this.slots.get(workerId) ?? 0) + n)
    const copies = draft.type === "TaskLeased" ? draft.leases.filter((l) => l.speculative === true).map((l) => l.jobId) : []
    for (const jobId of copies) this.copies.set(jobId, (this.copies.get(jobId) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      for (const key of keys) this.keys.delete(key)
      if (workerId !== undefined) {
        const left = (this.slots.get(workerId) ?? 0) - n
        if (left > 0) this.slots.set(workerId, left)
        else this.slots.delete(workerId)
      }
      for (const jobId of copies) {
        const left = (this.copies.get(jobId) ?? 0) - 1
        if (left > 0) this.copies.set(jobId, left)
        else this.copies.delete(jobId)
      }
      for (const [jobId, n] of perJob ?? []) {
        const left = (this.jobLeases.get(jobId) ?? 0) - n
        if (left > 0) this.jobLeases.set(jobId, left)
        else this.jobLeases.delete(jobId)
      }
      if (this.shares === draft) this.shares = undefined
    }
  }
}

const countByJob = (leases: ReadonlyArray<{ jobId: string }>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const l of leases) counts.set(l.jobId, (counts.get(l.jobId) ?? 0) + 1)
  return counts
}

export const SHARES_IN_FLIGHT = "shares"

export const jobKey = (jobId: string) => `job:${jobId}`
export const taskKey = (jobId: string, index: number) => `task:${jobId}/${index}`
export const attemptKey = (jobId: string, index: number, attempt: number) => `attempt:${jobId}/${index}.${attempt}`

const draftKeys = (draft: Draft): string[] => {
  switch (draft.type) {
    case "RetryScheduled":
      return [taskKey(draft.jobId, draft.index)]
    case "TaskLeased":
      return draft.leases.map((l) => taskKey(l.jobId, l.index))
    case "WorkerLost":
      return [`worker:${draft.workerId}`]
    case "SharesAllocated":
      return [SHARES_IN_FLIGHT]
    case "JobsExpired":
      return draft.jobIds.map(jobKey)
    case "TaskReclaimed":
    case "AttemptAborted":
      return [attemptKey(draft.jobId, draft.index, draft.attempt)]
    default:
      return [jobKey(draft.jobId)]
  }
}

export type SchedulerOptions = {
  /** Leases per TaskLeased event at most (keeps events small). */
  readonly maxLeasesPerEvent: number
  /** Bytes of task input per TaskLeased event at most (an event must stay under the server's 1 MB payload). */
  readonly maxLeaseBytesPerEvent?: number
  /** Random number in [0, 1) for backoff jitter; the chosen delay is recorded in the event. */
  readonly random: () => number
  /**
   * How jobs of one priority level share the workers: `fair` (default) splits leases between running jobs
   * (fair-share.ts); `fifo` fills them in submission order.
   */
  readonly sharing?: "fair" | "fifo"
}

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = { maxLeasesPerEvent: 512, maxLeaseBytesPerEvent: 256 * 1024, random: Math.random, sharing: "fair" }

/** Outputs travel in JobCompleted up to this size; larger ones are read from the coordinator (or a replay). */
export const MAX_INLINE_OUTPUT_BYTES = 256 * 1024

/** When the scheduler next has something to do that no event will prompt: a delayed job or a retry coming due. */
export type Wake = { at: number }

/** Exponential backoff with ±20 % jitter, capped: the delay before attempt `failedAttempt + 1`. */
export const retryDelayMs = (spec: { backoffMs: number; backoffMaxMs: number }, failedAttempt: number, random: number): number => {
  const exponential = spec.backoffMs * 2 ** Math.max(0, failedAttempt - 1)
  const capped = Math.min(spec.backoffMaxMs, exponential)
  return Math.round(Math.min(spec.backoffMaxMs, capped * (0.8 + 0.4 * random)))
}

/** Attempts of one task can never exceed what the per-task counter holds. */
const ATTEMPT_CEILING = 255

/** The decisions to make now. Does not mutate the state. */
export const plan = (
  state: ClusterState,
  inFlight: InFlight,
  now: number,
  options: SchedulerOptions = DEFAULT_SCHEDULER_OPTIONS,
  wake: Wake = { at: Infinity }
): Draft[] => {
  const drafts: Draft[] = []
  const runnable: JobState[] = []
  const slots = freeSlots(state, inFlight)
  const capacity = slots.length > 0
  for (const jobId of state.activeJobs) {
    const job = state.jobs.get(jobId) as JobState
    // The common case first, cheaply (this loop runs after every batch of events, over every active job):
    // a running job with nothing to decide, waiting for capacity or with every task leased.
    if (
      job.phase === "running" && job.cancelRequested === undefined && job.done !== job.count && job.needsDecision.size === 0 &&
      job.superseded.size === 0 && job.inference?.batchSizeRequested === undefined
    ) {
      if (!capacity || (job.cursor === job.count && job.retryAt.size === 0)) continue
      if (!inFlight.keys.has(jobKey(job.jobId))) runnable.push(job)
      continue
    }
    if (inFlight.keys.has(jobKey(job.jobId))) continue
    if (job.cancelRequested !== undefined) {
      drafts.push({ type: "JobCancelled", jobId: job.jobId, reason: job.cancelRequested })
      continue
    }
    if (job.phase === "queued") {
      // A delayed job stays queued until its time; the coordinator sets a timer for it.
      const runAt = job.spec.runAt ?? 0
      if (runAt > now) {
        wake.at = Math.min(wake.at, runAt)
        continue
      }
      // Its first leases go out in the same pass, published after it (a lease of a queued job starts it).
      drafts.push({ type: "TasksScheduled", jobId: job.jobId, count: job.count })
      runnable.push(job)
      continue
    }
    if (job.done === job.count) {
      // An inference job completes once the coordinator has stored its predictions (PredictionsStored).
      if (job.inference === undefined || job.inference.stored !== undefined) drafts.push(completion(job))
      continue
    }
    const resize = batchSizeDecision(job, inFlight)
    if (resize !== undefined) {
      drafts.push(resize)
      continue // its leases wait for the new boundaries
    }
    abortSuperseded(job, inFlight, drafts)
    const failure = decideFailures(job, inFlight, now, options, drafts, wake)
    if (failure !== undefined) {
      drafts.push(failure)
      continue
    }
    runnable.push(job)
  }
  const quotas = (options.sharing ?? "fair") === "fair" ? fairQuotas(state, inFlight, now, drafts) : undefined
  leaseTasks(slots, runnable, inFlight, now, options, drafts, wake, quotas)
  return drafts
}

/** The split in force (deciding a new one when due); undefined when jobs are not limited. */
const fairQuotas = (state: ClusterState, inFlight: InFlight, now: number, drafts: Draft[]): ReadonlyMap<string, number> | undefined => {
  // A split on its way is in force; the next is weighed once it has been folded and measured.
  const pending = inFlight.shares
  if (pending !== undefined) return new Map(pending.jobs.map((j) => [j.jobId, j.quota]))
  const next = decideShares(state, state.allocation, now)
  if (next !== undefined) {
    drafts.push(next)
    return new Map(next.jobs.map((j) => [j.jobId, j.quota]))
  }
  return state.allocation?.quotas
}

/**
 * A `set-batch-size` of an inference job, decided when none of its leases is on its way: new boundaries
 * from the task after the last one ever leased (leased batches keep theirs).
 */
const batchSizeDecision = (job: JobState, inFlight: InFlight): Draft | undefined => {
  const inference = job.inference
  const batchSize = inference?.batchSizeRequested
  if (inference === undefined || batchSize === undefined || job.spec.kind !== "infer" || (inFlight.jobLeases.get(job.jobId) ?? 0) > 0) return undefined
  let fromTask = job.count
  while (fromTask > 0 && (job.attempts[fromTask - 1] ?? 0) === 0) fromTask--
  const rows = job.spec.data.rows
  const fromRow = fromTask === job.count ? rows : batchRows(inference.segments, rows, fromTask).from
  return { type: "BatchSizeChanged", jobId: job.jobId, batchSize, fromTask, fromRow, count: Math.max(1, batchCount(rows, fromTask, fromRow, batchSize)) }
}

/** The live workers that could take a lease now, with how many, in id order (none: no lease can be decided). */
const freeSlots = (state: ClusterState, inFlight: InFlight): Slot[] => {
  const meanMs = clusterMeanMs(state)
  const slots: Slot[] = []
  for (const worker of state.workers.values()) {
    if (worker.phase !== "live" || inFlight.keys.has(`worker:${worker.workerId}`)) continue
    const free = freeCapacity(worker, inFlight, meanMs)
    if (free > 0) slots.push({ workerId: worker.workerId, kinds: worker.kinds, free })
  }
  return slots.sort((a, b) => (a.workerId < b.workerId ? -1 : 1))
}

/** JobCompleted: the exact sum, or a task job's outputs (inline when small). */
const completion = (job: JobState): Draft => {
  const finished = job.training?.finished
  if (finished !== undefined) {
    const accuracy = finished.testAccuracy ?? finished.trainAccuracy
    const result = accuracy === null || accuracy === undefined ? `loss ${(finished.testLoss ?? finished.loss).toFixed(6)}` : `accuracy ${accuracy.toFixed(4)}`
    return { type: "JobCompleted", jobId: job.jobId, result }
  }
  const stored = job.inference?.stored
  if (stored !== undefined) {
    const accuracy = stored.accuracy === undefined ? "" : `, accuracy ${stored.accuracy.toFixed(4)}`
    return { type: "JobCompleted", jobId: job.jobId, result: `${stored.predictions.rows} predictions in ${stored.predictions.bucket}/${stored.predictions.name}${accuracy}` }
  }
  if (job.outputs === undefined) return { type: "JobCompleted", jobId: job.jobId, result: job.sum.toString() }
  const result = `${job.count} task${job.count === 1 ? "" : "s"} completed`
  const bytes = jsonByteLength(job.outputs)
  return bytes <= MAX_INLINE_OUTPUT_BYTES ? { type: "JobCompleted", jobId: job.jobId, result, outputs: job.outputs } : { type: "JobCompleted", jobId: job.jobId, result }
}

/**
 * Priority with aging: a job's priority plus one level per `agingMs` it has waited since its last lease
 * (or its start), so a low-priority job under a stream of urgent ones still gets a lease now and then.
 */
export const effectivePriority = (job: JobState, now: number): number => {
  // A delayed job waits from its runAt on, not from its submission.
  const since = job.lastLeasedAt ?? job.startedAt ?? Math.max(job.submittedAt, job.spec.runAt ?? 0)
  return (job.spec.priority ?? 0) + Math.max(0, now - since) / (job.spec.agingMs ?? 5000)
}

/** Copies of finished tasks that are still running are told to stop. */
const abortSuperseded = (job: JobState, inFlight: InFlight, drafts: Draft[]): void => {
  for (const key of job.superseded) {
    const run = job.running.get(key)
    if (run === undefined || inFlight.keys.has(attemptKey(job.jobId, run.index, run.attempt))) continue
    drafts.push({ type: "AttemptAborted", workerId: run.workerId, jobId: job.jobId, index: run.index, attempt: run.attempt, reason: "another attempt finished first" })
  }
}

/** Retry or give up on every task awaiting a decision; returns a JobFailed draft when the job cannot finish. */
const decideFailures = (job: JobState, inFlight: InFlight, now: number, options: SchedulerOptions, drafts: Draft[], wake: Wake): Draft | undefined => {
  const due: Array<[number, { attempt: number; error: string }]> = []
  for (const [index, failed] of job.needsDecision) {
    if (inFlight.keys.has(taskKey(job.jobId, index))) continue
    const attempts = job.attempts[index] ?? 0
    const exhausted = attempts >= job.spec.maxAttempts || attempts >= ATTEMPT_CEILING
    if (!failed.retryable || exhausted) {
      const why = failed.retryable ? `gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}` : "non-retryable error"
      return {
        type: "JobFailed",
        jobId: job.jobId,
        reason: `task ${index} failed (${why}): ${failed.error}`,
        task: { index, attempts, error: failed.error, retryable: failed.retryable }
      }
    }
    due.push([index, failed])
  }
  for (const [index, failed] of due) {
    const delayMs = retryDelayMs(job.spec, failed.attempt, options.random())
    drafts.push({
      type: "RetryScheduled",
      jobId: job.jobId,
      index,
      attempt: failed.attempt,
      delayMs,
      notBefore: now + delayMs,
      reason: failed.error
    })
    wake.at = Math.min(wake.at, now + delayMs)
  }
  return undefined
}

/** Fills free worker capacity with runnable tasks, jobs in submission order, each placed by its job's policy. */
const leaseTasks = (
  slots: Slot[],
  jobs: JobState[],
  inFlight: InFlight,
  now: number,
  options: SchedulerOptions,
  drafts: Draft[],
  wake: Wake,
  quotas?: ReadonlyMap<string, number>
): void => {
  if (jobs.length === 0 || slots.length === 0) return
  let capacityLeft = slots.reduce((n, s) => n + s.free, 0)
  const byWorker = new Map<string, LeaseDraft[]>()
  const rotation: Rotation = { roundRobin: inFlight.placement.roundRobin, lastPicked: -1 }
  const byKind = new Map<string, Slot[]>()
  const ordered = byPriority(jobs, now)
  // Tasks chosen in this pass (a job can be filled twice: up to its quota, then from what is left).
  const chosen = new Set<string>()
  const fill = (job: JobState, limit: number): void => {
    // Only workers that run this job's kind; a job no live worker can run waits (dtq job says why).
    const kind = taskKind(job.spec)
    let eligible = byKind.get(kind)
    if (eligible === undefined) {
      eligible = slots.filter((s) => canRun(s, kind))
      byKind.set(kind, eligible)
    }
    const room = eligible.reduce((n, s) => n + s.free, 0)
    if (room === 0 || limit <= 0) return
    const tasks: LeaseDraft[] = []
    collectRunnable(job, inFlight, now, Math.min(room, capacityLeft, limit), tasks, wake, chosen)
    for (const task of tasks) {
      const slot = pickSlot(eligible, job.spec.placement, rotation, options.random)
      if (slot === undefined) break
      slot.free--
      capacityLeft--
      const list = byWorker.get(slot.workerId)
      if (list === undefined) byWorker.set(slot.workerId, [task])
      else list.push(task)
    }
  }
  // Fair sharing: first each job up to its quota (what it holds and has on the way counts), then what
  // is left to any job that can use it, so no capacity idles while work waits.
  if (quotas !== undefined && quotas.size > 0) {
    const top = Math.max(...ordered.map((job) => (quotas.has(job.jobId) ? (job.spec.priority ?? 0) : -Infinity)))
    for (const job of ordered) {
      if (capacityLeft === 0) break
      const quota = quotas.get(job.jobId)
      // A lower-level job that has waited long enough (aging) still gets a lease now and then.
      if (quota === undefined) fill(job, effectivePriority(job, now) > top ? 1 : 0)
      else fill(job, quota - job.running.size - (inFlight.jobLeases.get(job.jobId) ?? 0))
    }
  }
  for (const job of ordered) {
    if (capacityLeft === 0) break
    fill(job, Infinity)
  }
  inFlight.placement.roundRobin = rotation.roundRobin
  for (const [workerId, leases] of byWorker) {
    for (const chunk of chunkLeases(leases, options)) drafts.push({ type: "TaskLeased", workerId, leases: chunk })
  }
}

/**
 * Jobs in the order they get free capacity. Within a priority level: submission order (FIFO). Across
 * levels: effective priority (aging lifts a starved level's jobs), ties in submission order.
 */
const byPriority = (jobs: JobState[], now: number): JobState[] => {
  if (jobs.length < 2) return jobs
  const level = (job: JobState) => job.spec.priority ?? 0
  const first = level(jobs[0] as JobState)
  if (jobs.every((job) => level(job) === first)) return jobs // one level: FIFO
  const scored = jobs.map((job, order) => ({ job, order, score: effectivePriority(job, now) }))
  scored.sort((a, b) => b.score - a.score || a.order - b.order)
  // The places each level won go to that level's jobs in submission order.
  const queues = new Map<number, JobState[]>()
  for (const job of jobs) {
    const queue = queues.get(level(job))
    if (queue === undefined) queues.set(level(job), [job])
    else queue.push(job)
  }
  const next = new Map<number, number>()
  return scored.map(({ job }) => {
    const at = next.get(level(job)) ?? 0
    next.set(level(job), at + 1)
    return (queues.get(level(job)) as JobState[])[at] as JobState
  })
}

/** Splits one worker's leases into events bounded in count and in bytes of input. */
const chunkLeases = (leases: LeaseDraft[], options: SchedulerOptions): LeaseDraft[][] => {
  const chunks: LeaseDraft[][] = []
  let chunk: LeaseDraft[] = []
  let bytes = 0
  const maxBytes = options.maxLeaseBytesPerEvent ?? 256 * 1024
  for (const lease of leases) {
    const size = lease.inputBytes ?? 0
    if (chunk.length > 0 && (chunk.length >= options.maxLeasesPerEvent || bytes + size > maxBytes)) {
      chunks.push(chunk)
      chunk = []
      bytes = 0
    }
    if (lease.inputBytes !== undefined) delete lease.inputBytes // a planning aid, not part of the event
    chunk.push(lease)
    bytes += size
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}

const inputSizes = new WeakMap<ResolvedSpec, Int32Array>()

/** Bytes of a task job's input as JSON, measured once per job (sum inputs are tiny: not measured). */
const inputBytes = (spec: ResolvedSpec, index: number): number | undefined => {
  if (spec.kind !== "task") return undefined
  let sizes = inputSizes.get(spec)
  if (sizes === undefined) {
    sizes = new Int32Array(spec.tasks).fill(-1)
    inputSizes.set(spec, sizes)
  }
  if ((sizes[index] ?? -1) < 0) sizes[index] = jsonByteLength(spec.inputs[index])
  return sizes[index]
}

/** Adds up to `limit` runnable tasks of a job (due retries first, then never-leased ones); returns how many. */
const collectRunnable = (job: JobState, inFlight: InFlight, now: number, limit: number, out: LeaseDraft[], wake: Wake, chosen: Set<string>): number => {
  let taken = 0
  const kind = taskKind(job.spec)
  const lease = (index: number) => {
    const key = taskKey(job.jobId, index)
    if (chosen.has(key)) return
    chosen.add(key)
    const bytes = inputBytes(job.spec, index)
    out.push({
      jobId: job.jobId,
      index,
      attempt: (job.attempts[index] ?? 0) + 1,
      kind,
      input: taskInput(job.spec, index, job.inference?.segments),
      deadline: now + job.spec.leaseMs,
      ...(bytes === undefined ? {} : { inputBytes: bytes })
    })
    taken++
  }
  if (job.phase === "queued") {
    // Being scheduled in this very pass: every task is fresh.
    for (let index = 0; index < job.count && taken < limit; index++) if (!inFlight.keys.has(taskKey(job.jobId, index))) lease(index)
    return taken
  }
  for (const [index, notBefore] of job.retryAt) {
    if (taken === limit) return taken
    if (notBefore > now) {
      wake.at = Math.min(wake.at, notBefore)
      continue
    }
    if (inFlight.keys.has(taskKey(job.jobId, index))) continue
    if (job.status[index] !== TaskStatus.Pending) continue
    lease(index)
  }
  // Every task below the fold's cursor has been leased; above it, only tasks in flight are skipped, so a
  // scan costs at most the leases in flight, and a lease the fold set aside is simply found again.
  for (let index = job.cursor; index < job.count && taken < limit; index++) {
    if (job.attempts[index] !== 0 || inFlight.keys.has(taskKey(job.jobId, index))) continue
    lease(index)
  }
  return taken
}
