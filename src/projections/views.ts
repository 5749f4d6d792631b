// Read models derived from the state: what `dtq jobs`, `dtq job`, `dtq workers` and `dtq info` show.
import { isFinished, type ClusterState, type JobState, type WorkerState } from "./state.ts"

export type JobView = {
  readonly jobId: string
  readonly kind: string
  readonly name: string | undefined
  readonly state: JobState["phase"]
  readonly tasks: number
  readonly done: number
  readonly running: number
  readonly failures: number
  readonly duplicates: number
  readonly result: string | undefined
  readonly reason: string | undefined
  readonly submittedAt: number
  readonly startedAt: number | undefined
  readonly endedAt: number | undefined
  readonly durationMs: number | undefined
  readonly spec: JobState["spec"]
}

export const jobView = (job: JobState): JobView => ({
  jobId: job.jobId,
  kind: job.spec.kind,
  name: job.spec.name,
  state: job.phase,
  tasks: job.count,
  done: job.done,
  running: job.running.size,
  failures: job.failures,
  duplicates: job.duplicates,
  result: job.result,
  reason: job.reason,
  submittedAt: job.submittedAt,
  startedAt: job.startedAt,
  endedAt: job.endedAt,
  durationMs: job.endedAt === undefined ? undefined : job.endedAt - job.submittedAt,
  spec: job.spec
})

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

/** Why a running job makes no progress, when the reason is plain: no live worker runs its kind. */
export const jobBlocker = (state: ClusterState, job: JobState): string | undefined => {
  if (job.phase !== "running" && job.phase !== "queued") return undefined
  for (const worker of state.workers.values()) if (worker.phase === "live" && worker.kinds.includes(job.spec.kind)) return undefined
  return `waiting: no live worker runs tasks of kind ${job.spec.kind}`
}

export const jobsView = (state: ClusterState): JobView[] => [...state.jobs.values()].map(jobView)
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
