// The cluster state that the fold builds from the log: jobs with their tasks, workers, the leader term.
// The fold owns this state and mutates it in place (copying a million-task job per event would make the
// hot path quadratic); it stays a pure function of the log: no I/O, no clock, no randomness.
import type { ResolvedSpec } from "../domain/job-spec.ts"
import type { TrainingState } from "./training.ts"
import type { InferenceState } from "./inference.ts"
import type { RateWindow } from "./rates.ts"

/** Per-task status, one byte per task. */
export const TaskStatus = {
  Pending: 0, // never leased, or released for a retry (see JobState.retryAt)
  Running: 1, // at least one attempt is leased
  Done: 2, // the first valid result is in
  NeedsDecision: 3, // an attempt failed or was reclaimed: the coordinator decides retry or give up
  Dead: 4 // given up: the job fails
} as const
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus]

export type JobPhase = "queued" | "running" | "completed" | "failed" | "cancelled" | "rejected"
export const isFinished = (phase: JobPhase): boolean =>
  phase === "completed" || phase === "failed" || phase === "cancelled" || phase === "rejected"

/** One leased attempt that has not reported yet. */
export type Run = {
  readonly index: number
  readonly attempt: number
  readonly workerId: string
  readonly leasedAt: number
  readonly speculative: boolean
  deadline: number
  progress: number
  progressAt: number
}

export type JobState = {
  readonly jobId: string
  readonly spec: ResolvedSpec
  readonly submittedAt: number
  /** Where its JobSubmitted is in the stream: compaction keeps a running job's whole history. */
  readonly submittedSeq: number
  readonly submittedBy: string
  phase: JobPhase
  count: number // changes only when an inference job's batch size does
  done: number
  duplicates: number
  failures: number // attempts that failed or were reclaimed
  status: Uint8Array // TaskStatus per task, allocated when the tasks are scheduled
  attempts: Uint8Array // attempts leased so far per task
  cursor: number // every task below it has been leased at least once
  running: Map<string, Run> // key `${index}.${attempt}`
  superseded: Set<string> // running attempts of tasks that are already done: to be aborted
  orphans: Map<string, string> // reclaimed attempts still allowed to report: key -> workerId
  retryAt: Map<number, number> // index -> earliest lease time of its next attempt
  needsDecision: Map<number, { attempt: number; error: string; retryable: boolean }>
  lastError: Map<number, string>
  sum: bigint // running total of the valid results (sum and sumsq jobs)
  outputs: unknown[] | undefined // the valid result of each task, in input order (task jobs)
  lastLeasedAt: number | undefined // when the job last got a lease: priority aging counts from here
  cancelRequested: string | undefined
  startedAt: number | undefined
  endedAt: number | undefined
  result: string | undefined
  reason: string | undefined
  failedTask: { index: number; attempts: number; error: string; retryable: boolean } | undefined
  taskMsTotal: number
  recentMs: number[] // durations of the latest finished tasks (a ring of RECENT_DURATIONS), for speculation
  recentMsNext: number
  /** A training job's model versions, pending gradients and epochs (undefined for other kinds). */
  training: TrainingState | undefined
  /** An inference job's batches, accuracy so far and stored predictions (undefined for other kinds). */
  inference: InferenceState | undefined
  /** Units completed and busy time over the last seconds: the job's rate, for fair sharing and `dtq job`. */
  readonly rates: RateWindow
}

/** How many recent task durations a job keeps to estimate its median task time. */
export const RECENT_DURATIONS = 501

export type WorkerPhase = "live" | "draining" | "left" | "lost"

export type WorkerState = {
  readonly workerId: string
  slots: number
  prefetch: number
  host: string
  pid: number
  kinds: ReadonlyArray<string>
  phase: WorkerPhase
  joinedAt: number
  lastEventAt: number
  leases: Set<string> // `${jobId}/${index}.${attempt}` leased and not yet reported
  assigned: number
  completed: number
  failed: number
  taskMsTotal: number
  /** Its clock minus the stream's, from its latest events (clock-skew.ts); undefined until one is stored with a time. */
  clockOffsetMs?: number | undefined
  /** Stream time of the observation behind clockOffsetMs. */
  clockOffsetAt?: number
}

/** The last fair-share split (SharesAllocated): each running job's lease quota. */
export type Allocation = {
  readonly at: number
  readonly capacity: number
  readonly reason: string
  readonly quotas: Map<string, number>
  readonly jobs: ReadonlyArray<{ jobId: string; quota: number; share: number; rate: number | null; cost: number | null }>
}

export type RejectedRecord = { readonly seq: number; readonly reason: string }

export type ClusterState = {
  seq: number // stream sequence of the last event folded
  lastTs: number // when the stream stored the last event folded: the latest time the fold has seen, never going back
  now: number // the fold's clock for the event being folded (its stored time, clamped to lastTs; stored.ts): every handler reads it
  epoch: number // the current coordinator term; decisions of other epochs are fenced
  leaderId: string | undefined
  leaderSince: number | undefined
  readonly jobs: Map<string, JobState>
  readonly activeJobs: Set<string> // queued or running, in submission order: what the scheduler looks at
  readonly workers: Map<string, WorkerState>
  eventsApplied: number
  rejectedCount: number // events set aside: undecodable, or impossible given the state
  fencedCount: number // decisions of a deposed epoch
  duplicateResults: number // results for a task that already had one
  readonly recentRejected: RejectedRecord[] // newest last, bounded
  allocation: Allocation | undefined
  /** Finished jobs that left the state by retention (JobsExpired), in all. */
  expiredJobs: number
  /** The events through this sequence were purged behind a snapshot (LogCompacted); 0: none. */
  compactedThrough: number
}

export const RECENT_REJECTED_LIMIT = 50

export const emptyState = (): ClusterState => ({
  seq: 0,
  lastTs: 0,
  now: 0,
  epoch: 0,
  leaderId: undefined,
  leaderSince: undefined,
  jobs: new Map(),
  activeJobs: new Set(),
  workers: new Map(),
  eventsApplied: 0,
  rejectedCount: 0,
  fencedCount: 0,
  duplicateResults: 0,
  recentRejected: [],
  allocation: undefined,
  expiredJobs: 0,
  compactedThrough: 0
})

export const runKey = (index: number, attempt: number): string => `${index}.${attempt}`
export const leaseKey = (jobId: string, index: number, attempt: number): string => `${jobId}/${index}.${attempt}`
