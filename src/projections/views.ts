// Read models derived from the state: what `dtq jobs`, `dtq job`, `dtq workers` and `dtq info` show.
import { taskKind, type ResolvedSumSpec, type ResolvedTaskSpec, type ResolvedTrainSpec } from "../domain/job-spec.ts"
import { jsonByteLength } from "../domain/json.ts"
import { isFinished, type ClusterState, type JobState, type WorkerState } from "./state.ts"
import type { EpochRecord, TrainingState } from "./training.ts"

/** A spec as views show it: a task job's inputs are counted, not repeated (they can be large). */
export type SpecView = ResolvedSumSpec | ResolvedTrainSpec | (Omit<ResolvedTaskSpec, "inputs"> & { readonly inputs: number })

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

export const jobView = (job: JobState): JobView => ({
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
  ...(job.training === undefined ? {} : { training: trainingView(job.training) })
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
  joinedAt: worker.joinedAt
})

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

/** The newest `limit` jobs, oldest first, and how many jobs there are in all. */
export const jobsView = (state: ClusterState, limit = JOBS_LISTED): { jobs: JobView[]; total: number } => {
  const all = [...state.jobs.values()]
  return { jobs: all.slice(Math.max(0, all.length - limit)).map(jobView), total: all.length }
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
