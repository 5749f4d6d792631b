// Hand-built events for the unit tests (not a test file itself). Every builder returns a schema-valid event;
// event-codec.test.ts checks that each one survives encode/decode unchanged.
import type { Draft } from "../../src/coordinator/scheduler.ts"
import type { DtqEvent, EventOf } from "../../src/domain/events.ts"
import { rangeInput, resolveSpec, type ResolvedSpec } from "../../src/domain/job-spec.ts"
import { rangeSum } from "../../src/domain/range-sum.ts"
import { applyEvent } from "../../src/projections/fold.ts"
import { emptyState, type ClusterState } from "../../src/projections/state.ts"

let eventCounter = 0
const eventId = (): string => `ev-${++eventCounter}`

export const COORDINATOR = "c1"

type At = { readonly ts?: number }
type Decided = At & { readonly epoch?: number; readonly by?: string }

const coordinatorEnvelope = (o: Decided) => ({
  id: eventId(),
  v: 1 as const,
  ts: o.ts ?? 1000,
  writer: { role: "coordinator" as const, id: o.by ?? COORDINATOR },
  epoch: o.epoch ?? 1
})
const workerEnvelope = (workerId: string, o: At) => ({
  id: eventId(),
  v: 1 as const,
  ts: o.ts ?? 1000,
  writer: { role: "worker" as const, id: workerId }
})
const producerEnvelope = (o: At & { readonly by?: string }) => ({
  id: eventId(),
  v: 1 as const,
  ts: o.ts ?? 1000,
  writer: { role: "producer" as const, id: o.by ?? "p1" }
})

// ---- coordinator decisions ----
export const coordinatorElected = (epoch: number, o: At & { readonly by?: string } = {}): EventOf<"CoordinatorElected"> => ({
  type: "CoordinatorElected",
  ...coordinatorEnvelope({ ...o, epoch }),
  host: "test-host",
  pid: 4242
})

export const coordinatorStarted = (id = "c1", o: At = {}): EventOf<"CoordinatorStarted"> => ({
  type: "CoordinatorStarted",
  id: `started-${id}-${o.ts ?? 1000}`,
  v: 1,
  ts: o.ts ?? 1000,
  writer: { role: "coordinator", id },
  host: "test-host",
  pid: 4242
})

export const tasksScheduled = (jobId: string, count: number, o: Decided = {}): EventOf<"TasksScheduled"> => ({
  type: "TasksScheduled",
  ...coordinatorEnvelope(o),
  jobId,
  count
})

export const jobRejected = (jobId: string, reason: string, o: Decided = {}): EventOf<"JobRejected"> => ({
  type: "JobRejected",
  ...coordinatorEnvelope(o),
  jobId,
  reason
})

export type LeaseRef = { readonly jobId: string; readonly index: number; readonly attempt: number }

export const taskLeased = (
  workerId: string,
  leases: ReadonlyArray<LeaseRef & { readonly input?: unknown; readonly speculative?: boolean }>,
  o: Decided & { readonly deadline?: number } = {}
): EventOf<"TaskLeased"> => ({
  type: "TaskLeased",
  ...coordinatorEnvelope(o),
  workerId,
  leases: leases.map((l) => ({
    jobId: l.jobId,
    index: l.index,
    attempt: l.attempt,
    kind: "sum",
    input: l.input ?? {},
    deadline: o.deadline ?? (o.ts ?? 1000) + 10_000,
    ...(l.speculative === undefined ? {} : { speculative: l.speculative })
  }))
})

export const retryScheduled = (
  jobId: string,
  index: number,
  attempt: number,
  notBefore: number,
  o: Decided = {}
): EventOf<"RetryScheduled"> => ({
  type: "RetryScheduled",
  ...coordinatorEnvelope(o),
  jobId,
  index,
  attempt,
  delayMs: Math.max(0, notBefore - (o.ts ?? 1000)),
  notBefore,
  reason: "retry"
})

export const taskReclaimed = (jobId: string, index: number, attempt: number, reason: string, o: Decided = {}, workerId = "w1"): EventOf<"TaskReclaimed"> => ({
  type: "TaskReclaimed",
  ...coordinatorEnvelope(o),
  workerId,
  jobId,
  index,
  attempt,
  reason
})

export const attemptAborted = (
  workerId: string,
  jobId: string,
  index: number,
  attempt: number,
  reason = "another attempt finished first",
  o: Decided = {}
): EventOf<"AttemptAborted"> => ({
  type: "AttemptAborted",
  ...coordinatorEnvelope(o),
  workerId,
  jobId,
  index,
  attempt,
  reason
})

export const jobCompleted = (jobId: string, result: string, o: Decided = {}): EventOf<"JobCompleted"> => ({
  type: "JobCompleted",
  ...coordinatorEnvelope(o),
  jobId,
  result
})

export const jobFailed = (jobId: string, reason: string, o: Decided = {}): EventOf<"JobFailed"> => ({
  type: "JobFailed",
  ...coordinatorEnvelope(o),
  jobId,
  reason
})

export const jobCancelled = (jobId: string, reason: string, o: Decided = {}): EventOf<"JobCancelled"> => ({
  type: "JobCancelled",
  ...coordinatorEnvelope(o),
  jobId,
  reason
})

export const jobsExpired = (jobIds: string[], o: Decided = {}): EventOf<"JobsExpired"> => ({
  type: "JobsExpired",
  ...coordinatorEnvelope(o),
  jobIds,
  reason: "ended more than their retention ago"
})

export const logCompacted = (throughSeq: number, snapshotSeq: number, o: Decided = {}): EventOf<"LogCompacted"> => ({
  type: "LogCompacted",
  ...coordinatorEnvelope(o),
  throughSeq,
  snapshotSeq,
  reason: "dtq compact"
})

export const workerLost = (workerId: string, o: Decided = {}): EventOf<"WorkerLost"> => ({
  type: "WorkerLost",
  ...coordinatorEnvelope(o),
  workerId,
  reason: "no heartbeat"
})

// ---- training ----
const TENSOR = { digest: `sha256-${"ab".repeat(32)}`, bytes: 40 }
const GRADIENT = { index: 0, attempt: 1, version: 0, epoch: 1, batch: 0 }

export const trainingEvents = (jobId: string): DtqEvent[] => [
  { type: "GradientReported", ...workerEnvelope("w-1", {}), workerId: "w-1", jobId, ...GRADIENT, rows: 64, loss: 147.4, correct: 12, ms: 2.5, tensor: TENSOR },
  { type: "ModelUpdated", ...coordinatorEnvelope({}), jobId, version: 1, tensor: TENSOR, applied: [GRADIENT], lr: 0.5 },
  { type: "GradientDropped", ...coordinatorEnvelope({}), jobId, gradient: GRADIENT, reason: "stale" },
  { type: "EpochCompleted", ...coordinatorEnvelope({}), jobId, trainingEpoch: 1, version: 1, loss: 0.4, trainAccuracy: 0.9, testLoss: 0.5, testAccuracy: null, ms: 120, samples: 64, samplesPerSec: 533, workers: 1, mode: "sync" },
  { type: "EarlyStopped", ...coordinatorEnvelope({}), jobId, trainingEpoch: 4, bestEpoch: 2, bestVersion: 20, reason: "no improvement" },
  { type: "TrainingFinished", ...coordinatorEnvelope({}), jobId, version: 20, epochs: 4, model: { bucket: "dtq-models", name: jobId, digest: TENSOR.digest, bytes: 40 }, loss: 0.4, trainAccuracy: null, confusion: [[1, 0], [0, 1]], stoppedEarly: true }
]

// ---- inference and fair sharing ----
export const inferenceEvents = (jobId: string): DtqEvent[] => [
  { type: "BatchSizeRequested", ...producerEnvelope({}), jobId, batchSize: 50 },
  { type: "BatchSizeChanged", ...coordinatorEnvelope({}), jobId, batchSize: 50, fromTask: 3, fromRow: 300, count: 37 },
  {
    type: "PredictionsStored",
    ...coordinatorEnvelope({}),
    jobId,
    predictions: { bucket: "dtq-predictions", name: jobId, digest: TENSOR.digest, bytes: 8000, rows: 2000 },
    correct: 1800,
    accuracy: 0.9,
    confusion: [[900, 100], [100, 900]]
  },
  {
    type: "SharesAllocated",
    ...coordinatorEnvelope({}),
    capacity: 6,
    reason: "measured rates",
    jobs: [{ jobId, quota: 4, share: 1, rate: 410.5, cost: 2.1 }, { jobId: "j-2", quota: 2, share: 1, rate: null, cost: null }]
  }
]

// ---- producer requests ----
export const jobSubmitted = (jobId: string, spec: ResolvedSpec, o: At & { readonly by?: string } = {}): EventOf<"JobSubmitted"> => ({
  type: "JobSubmitted",
  ...producerEnvelope(o),
  jobId,
  spec
})

export const jobCancelRequested = (jobId: string, reason?: string, o: At = {}): EventOf<"JobCancelRequested"> => ({
  type: "JobCancelRequested",
  ...producerEnvelope(o),
  jobId,
  ...(reason === undefined ? {} : { reason })
})

// ---- worker facts ----
/**
 * A worker joins with `slots` slots and, unless told, no prefetch (so its capacity is exactly `slots`).
 * `prefetch: null` leaves the optional field out, like a worker that predates prefetch.
 */
export const workerJoined = (
  workerId: string,
  slots: number,
  o: At & { readonly prefetch?: number | null; readonly kinds?: ReadonlyArray<string> } = {}
): EventOf<"WorkerJoined"> => ({
  type: "WorkerJoined",
  ...workerEnvelope(workerId, o),
  workerId,
  slots,
  ...(o.prefetch === null ? {} : { prefetch: o.prefetch ?? 0 }),
  host: "test-host",
  pid: 100,
  kinds: o.kinds ?? ["sum", "sumsq"]
})

export const workerDraining = (workerId: string, o: At = {}): EventOf<"WorkerDraining"> => ({
  type: "WorkerDraining",
  ...workerEnvelope(workerId, o),
  workerId
})

export const workerLeft = (workerId: string, o: At = {}): EventOf<"WorkerLeft"> => ({
  type: "WorkerLeft",
  ...workerEnvelope(workerId, o),
  workerId
})

export const progressBeat = (workerId: string, beats: ReadonlyArray<LeaseRef & { readonly progress: number }>, o: At = {}): EventOf<"ProgressBeat"> => ({
  type: "ProgressBeat",
  ...workerEnvelope(workerId, o),
  workerId,
  beats: beats.map((b) => ({ ...b }))
})

export type ResultRef = LeaseRef & { readonly result: unknown; readonly ms?: number }

export const taskCompleted = (workerId: string, results: ReadonlyArray<ResultRef>, o: At = {}): EventOf<"TaskCompleted"> => ({
  type: "TaskCompleted",
  ...workerEnvelope(workerId, o),
  workerId,
  results: results.map((r) => ({ jobId: r.jobId, index: r.index, attempt: r.attempt, result: r.result, ms: r.ms ?? 5 }))
})

export type FailureRef = LeaseRef & { readonly error: string; readonly retryable: boolean }

export const taskFailed = (workerId: string, failures: ReadonlyArray<FailureRef>, o: At = {}): EventOf<"TaskFailed"> => ({
  type: "TaskFailed",
  ...workerEnvelope(workerId, o),
  workerId,
  failures: failures.map((f) => ({ ...f }))
})

// ---- helpers ----

/** The exact answer a worker would send for task `index` of a sum/sumsq job. */
export const answer = (spec: ResolvedSpec, index: number): string => {
  if (spec.kind !== "sum" && spec.kind !== "sumsq") throw new Error("answer() is for sum and sumsq jobs")
  const input = rangeInput(spec, index)
  return rangeSum(input.op, BigInt(input.from), BigInt(input.to)).toString()
}

/** A sum job over [from, to] in `tasks` tasks, resolved like a producer would. */
export const sumSpec = (from: number | bigint, to: number | bigint, tasks: number, extra: Record<string, unknown> = {}): ResolvedSpec =>
  resolveSpec({ kind: "sum", from: String(from), to: String(to), tasks, ...extra })

/** A sumsq job over [from, to] in `tasks` tasks. */
export const sumsqSpec = (from: number | bigint, to: number | bigint, tasks: number, extra: Record<string, unknown> = {}): ResolvedSpec =>
  resolveSpec({ kind: "sumsq", from: String(from), to: String(to), tasks, ...extra })

/** A state plus a sequence counter: folds events one after another, like a reader of the stream. */
export class Log {
  readonly state: ClusterState = emptyState()
  seq = 0

  apply(...events: DtqEvent[]): this {
    for (const event of events) applyEvent(this.state, ++this.seq, event)
    return this
  }

  /** The reasons recorded for the events set aside so far. */
  get rejectedReasons(): string[] {
    return this.state.recentRejected.map((r) => r.reason)
  }
}

/** Turns a scheduler draft into the event the coordinator would publish. */
export const draftEvent = (draft: Draft, o: Decided = {}): DtqEvent => ({ ...draft, ...coordinatorEnvelope(o) }) as DtqEvent

/** Folds a list of events into a fresh state. */
export const foldAll = (events: ReadonlyArray<DtqEvent>): ClusterState => {
  const state = emptyState()
  events.forEach((event, i) => applyEvent(state, i + 1, event))
  return state
}
