// Read models derived from the state: what `dtq jobs`, `dtq job`, `dtq workers` and `dtq info` show.
import { taskKind, type ResolvedInferSpec, type ResolvedSumSpec, type ResolvedTaskSpec, type ResolvedTrainSpec } from "../domain/job-spec.ts"
import { jsonByteLength } from "../domain/json.ts"
import { isFinished, type Allocation, type ClusterState, type JobState, type WorkerState } from "./state.ts"
import { RATE_WINDOW_S, percentiles, rateAt } from "./rates.ts"
import type { InferenceState } from "./inference.ts"
import type { EpochRecord, TrainingState } from "./training.ts"
import { isSkewed } from "./clock-skew.ts"

/** A spec as views show it: a task job's inputs are counted, not repeated (they can be large). */
export type SpecView = ResolvedSumSpec | ResolvedTrainSpec | ResolvedInferSpec | (Omit<ResolvedTaskSpec, "inputs"> & { readonly inputs: number })

export type JobView = {
  readonly jobId: string
  readonly kind: string
  /** The task name of a job of user-defined tasks. */
  readonly task: string | undefined
  readonly name: string | undefined
  readonly priority: number
  /** Not leased before this time (a delayed job). */
  readonly runAt: number | undefined
  /** Done tasks plus the reported progress of running ones, over all tasks: in [0, 1]. */
  readonly progress: number
  readonly state: JobState["phase"]
  readonly tasks: number
  readonly done: number
  readonly running: number
  readonly failures: number
  readonly duplicates: number
  readonly result: string | undefined
  readonly reason: string | undefined
  /** The task that failed the job, when one did. */
  readonly failedTask: JobState["failedTask"]
  readonly submittedAt: number
  readonly startedAt: number | undefined
  readonly endedAt: number | undefined
  readonly durationMs: number | undefined
  readonly spec: SpecView
  /** A training job's progress: model version, epochs recorded so far, how it ended. */
  readonly training?: TrainingView
  /** An inference job's rows, batch size, accuracy so far and stored predictions. */
  readonly inference?: InferenceView
  /** Throughput, batch latency and placement (`dtq job`; absent from listings). */
  readonly stats?: JobStats
}

export type InferenceView = {
  readonly rows: number
  readonly rowsDone: number
  readonly batchSize: number
  readonly batchSizeRequested: number | undefined
  readonly share: number
  readonly correct: number
  readonly accuracy: number | undefined
  readonly stored: InferenceState["stored"]
}

export type JobStats = {
  /** Units (rows of an inference job, tasks otherwise) per second over the last RATE_WINDOW_S seconds. */
  readonly rate: number
  readonly rateUnit: "rows" | "tasks"
  readonly windowSeconds: number
  /** Task (batch) durations in ms over the latest ones: p50, p90, p95, p99. */
  readonly latencyMs: { p50: number; p90: number; p95: number; p99: number } | undefined
  /** Leases held now, per worker. */
  readonly workers: Record<string, number>
  /** The fair-share quota in force (leases), when the job has one. */
  readonly quota: number | undefined
}

export type TrainingView = {
  readonly version: number
  readonly epochsDone: number
  readonly epochs: ReadonlyArray<EpochRecord>
  readonly pending: number
  readonly updates: number
  readonly dropped: number
  readonly stopped: TrainingState["stopped"]
  readonly finished: TrainingState["finished"]
}

export const trainingView = (t: TrainingState): TrainingView => ({
  version: t.version,
  epochsDone: t.epochsDone,
  epochs: t.epochs,
  pending: t.pending.size,
  updates: t.updates,
  dropped: t.dropped,
  stopped: t.stopped,
  finished: t.finished
})

const inferenceView = (job: JobState, inf: InferenceState): InferenceView | undefined => {
  if (job.spec.kind !== "infer") return undefined
  return {
    rows: job.spec.data.rows,
    rowsDone: inf.rowsDone,
    batchSize: inf.segments.at(-1)?.batchSize ?? job.spec.batchSize,
    batchSizeRequested: inf.batchSizeRequested,
    share: job.spec.share,
    correct: inf.correct,
    accuracy: job.spec.labeled && inf.rowsDone > 0 ? inf.correct / inf.rowsDone : undefined,
    stored: inf.stored
  }
}

/** A job's rate and latency as of `now` (the coordinator's clock, or the log's last event in a replay). */
export const jobStats = (job: JobState, now: number, allocation: Allocation | undefined): JobStats => {
  const since = job.startedAt ?? now
  const end = job.endedAt ?? now
  const latency = percentiles(job.recentMs, [50, 90, 95, 99])
  const workers: Record<string, number> = {}
  for (const run of job.running.values()) workers[run.workerId] = (workers[run.workerId] ?? 0) + 1
  return {
    rate: round3(rateAt(job.rates, end, since).perSecond),
    rateUnit: job.spec.kind === "infer" ? "rows" : "tasks",
    windowSeconds: RATE_WINDOW_S,
    latencyMs: latency === undefined ? undefined : { p50: latency[0] as number, p90: latency[1] as number, p95: latency[2] as number, p99: latency[3] as number },
    workers,
    quota: allocation?.quotas.get(job.jobId)
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000

/** A job for people and tools; with `detail`, also its stats (rate, latency, workers, quota). */
export const jobView = (job: JobState, detail?: { now: number; allocation: Allocation | undefined }): JobView => ({
  jobId: job.jobId,
  kind: job.spec.kind,
  task: job.spec.kind === "task" ? job.spec.task : undefined,
  name: job.spec.name,
  priority: job.spec.priority ?? 0,
  runAt: job.spec.runAt,
  progress: progressOf(job),
  state: job.phase,
  tasks: job.count,
  done: job.done,
  running: job.running.size,
  failures: job.failures,
  duplicates: job.duplicates,
  result: job.result,
  reason: job.reason,
  failedTask: job.failedTask,
  submittedAt: job.submittedAt,
  startedAt: job.startedAt,
  endedAt: job.endedAt,
  durationMs: job.endedAt === undefined ? undefined : job.endedAt - job.submittedAt,
  spec: job.spec.kind === "task" ? { ...job.spec, inputs: job.spec.inputs.length } : job.spec,
  ...(job.training === undefined ? {} : { training: trainingView(job.training) }),
  ...(job.inference === undefined ? {} : { inference: inferenceView(job, job.inference) }),
  ...(detail === undefined ? {} : { stats: jobStats(job, detail.now, detail.allocation) })
})

const progressOf = (job: JobState): number => {
  if (job.phase === "completed") return 1
  let partial = 0
  for (const run of job.running.values()) partial += run.progress
  return job.count === 0 ? 0 : Math.min(1, (job.done + Math.min(partial, job.running.size)) / job.count)
}

export type WorkerView = {
  readonly workerId: string
  readonly state: WorkerState["phase"]
  readonly slots: number
  readonly prefetch: number
  readonly inFlight: number
  readonly assigned: number
  readonly completed: number
  readonly failed: number
  readonly meanTaskMs: number | undefined
  readonly host: string
  readonly pid: number
  readonly kinds: ReadonlyArray<string>
  readonly joinedAt: number
  /** Leases held now, per job: which job each slot serves. */
  readonly jobs: Record<string, number>
  /** Its clock minus the stream's (ms), as its events show; null until one has been stored. */
  readonly clockOffsetMs: number | null
  /** Its clock is beyond the skew bound (CLOCK_SKEW_WARN_MS): its work is unaffected, its clock needs fixing. */
  readonly clockSkewed: boolean
}

export const workerView = (worker: WorkerState): WorkerView => ({
  workerId: worker.workerId,
  state: worker.phase,
  slots: worker.slots,
  prefetch: worker.prefetch,
  inFlight: worker.leases.size,
  assigned: worker.assigned,
  completed: worker.completed,
  failed: worker.failed,
  meanTaskMs: worker.completed === 0 ? undefined : worker.taskMsTotal / worker.completed,
  host: worker.host,
  pid: worker.pid,
  kinds: worker.kinds,
  joinedAt: worker.joinedAt,
  jobs: leasesByJob(worker),
  clockOffsetMs: worker.clockOffsetMs ?? null,
  clockSkewed: isSkewed(worker.clockOffsetMs)
})

const leasesByJob = (worker: WorkerState): Record<string, number> => {
  const jobs: Record<string, number> = {}
  for (const key of worker.leases) {
    const jobId = key.slice(0, key.lastIndexOf("/"))
    jobs[jobId] = (jobs[jobId] ?? 0) + 1
  }
  return jobs
}

/** Why a job makes no progress, when the reason is plain: its time has not come, or no live worker runs its kind. */
export const jobBlocker = (state: ClusterState, job: JobState, now?: number): string | undefined => {
  if (job.phase !== "running" && job.phase !== "queued") return undefined
  const runAt = job.spec.runAt
  if (job.phase === "queued" && runAt !== undefined && (now === undefined || runAt > now)) {
    return `waiting: delayed until ${new Date(runAt).toISOString()}`
  }
  const kind = taskKind(job.spec)
  for (const worker of state.workers.values()) if (worker.phase === "live" && worker.kinds.includes(kind)) return undefined
  return job.spec.kind === "task"
    ? `waiting: no live worker runs task ${kind} (start one with dtq worker --tasks MODULE)`
    : `waiting: no live worker runs tasks of kind ${kind}`
}

/** A page of outputs must fit in a reply (the server's payload limit is 1 MB). */
export const RESULTS_PAGE_BYTES = 512 * 1024

/** A page of a task job's outputs, from `offset`, at most `maxBytes` of JSON (always at least one output). */
export const outputsPage = (job: JobState, offset: number, maxBytes: number): { total: number; offset: number; outputs: unknown[] } | undefined => {
  if (job.outputs === undefined) return undefined
  const outputs: unknown[] = []
  let bytes = 0
  for (let i = Math.max(0, offset); i < job.outputs.length; i++) {
    const size = jsonByteLength(job.outputs[i]) + 1
    if (outputs.length > 0 && bytes + size > maxBytes) break
    outputs.push(job.outputs[i] ?? null)
    bytes += size
  }
  return { total: job.outputs.length, offset, outputs }
}

/** How many jobs a listing shows at most (the newest): a reply must fit in one message. */
export const JOBS_LISTED = 500

/** Finished jobs still in the state, and how many have left it by retention. */
export type RetentionView = { readonly retained: number; readonly expired: number }

/**
 * The newest `limit` jobs (that `keep` keeps, default all), oldest first, how many are kept in all, and how
 * many finished ones are retained.
 */
export const jobsView = (state: ClusterState, limit = JOBS_LISTED, keep?: (job: JobView) => boolean): { jobs: JobView[]; total: number; retention: RetentionView } => {
  const all = [...state.jobs.values()]
  const retention = { retained: all.length - state.activeJobs.size, expired: state.expiredJobs }
  if (keep !== undefined) {
    const kept = all.map((job) => jobView(job)).filter(keep)
    return { jobs: kept.slice(Math.max(0, kept.length - limit)), total: kept.length, retention }
  }
  return {
    jobs: all.slice(Math.max(0, all.length - limit)).map((job) => jobView(job)),
    total: all.length,
    retention
  }
}
export const workersView = (state: ClusterState): WorkerView[] => [...state.workers.values()].map(workerView)

export type Summary = {
  readonly seq: number
  readonly epoch: number
  readonly leaderId: string | undefined
  readonly eventsApplied: number
  readonly rejected: number
  readonly fenced: number
  readonly duplicateResults: number
  readonly jobs: Record<JobState["phase"], number>
  readonly workers: Record<WorkerState["phase"], number>
  readonly recentRejected: ClusterState["recentRejected"]
}

export const summaryView = (state: ClusterState): Summary => {
  const jobs = { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0, rejected: 0 }
  for (const job of state.jobs.values()) jobs[job.phase]++
  const workers = { live: 0, draining: 0, left: 0, lost: 0 }
  for (const worker of state.workers.values()) workers[worker.phase]++
  return {
    seq: state.seq,
    epoch: state.epoch,
    leaderId: state.leaderId,
    eventsApplied: state.eventsApplied,
    rejected: state.rejectedCount,
    fenced: state.fencedCount,
    duplicateResults: state.duplicateResults,
    jobs,
    workers,
    recentRejected: state.recentRejected
  }
}

export const activeJobs = (state: ClusterState): JobState[] => [...state.jobs.values()].filter((job) => !isFinished(job.phase))
