// The event catalog. Every state change of the cluster is one of these, stored in the event stream.
// Envelope: type, id (sent as Nats-Msg-Id), v (schema version), ts (ms since epoch, the only clock a
// fold sees), writer (role + id). Decisions of the coordinator also carry its epoch.
import { Schema } from "./schema.ts"
import { ResolvedSpec } from "./job-spec.ts"
import { TensorRef } from "./train-spec.ts"

export const EVENT_SCHEMA_VERSION = 1

/** One JobsExpired event names at most this many jobs (66 B each at most: the event stays small). */
export const MAX_JOBS_EXPIRED_PER_EVENT = 1000

/** Ids travel in NATS subjects, so they are restricted to subject-safe tokens. */
export const Id = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/, { expected: "an id of 1-64 letters, digits, '_' or '-'" })
)
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Index = Count
const Attempt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const Timestamp = Schema.Number.check(Schema.isFinite())

const writer = <R extends string>(role: R) => Schema.Struct({ role: Schema.Literal(role), id: Id })

const envelope = <T extends string, R extends string>(type: T, role: R) => ({
  type: Schema.tag(type),
  id: Id,
  v: Schema.Literal(EVENT_SCHEMA_VERSION),
  ts: Timestamp,
  writer: writer(role)
})

/** A decision of the coordinator: fenced by the epoch of the term that made it. */
const decision = <T extends string>(type: T) => ({ ...envelope(type, "coordinator"), epoch: Attempt })

// ---- requests (producer) ----
export const JobSubmitted = Schema.Struct({
  ...envelope("JobSubmitted", "producer"),
  jobId: Id,
  spec: ResolvedSpec,
  /** `dtq retry`: the failed or cancelled job this one re-runs with the same spec (optional: older logs have none). */
  retryOf: Schema.optionalKey(Id)
})
/** Change the batch size of a running inference job's batches not yet leased (`set-batch-size`). */
export const BatchSizeRequested = Schema.Struct({
  ...envelope("BatchSizeRequested", "producer"),
  jobId: Id,
  batchSize: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100_000 }))
})
export const JobCancelRequested = Schema.Struct({
  ...envelope("JobCancelRequested", "producer"),
  jobId: Id,
  reason: Schema.optionalKey(Schema.String)
})

// ---- facts (worker) ----
export const WorkerJoined = Schema.Struct({
  ...envelope("WorkerJoined", "worker"),
  workerId: Id,
  slots: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4096 })),
  /** Leases held beyond `slots`, queued at the worker: hides the lease round trip for short tasks. */
  prefetch: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65536 }))),
  host: Schema.String,
  pid: Count,
  kinds: Schema.Array(Schema.String)
})
export const WorkerDraining = Schema.Struct({ ...envelope("WorkerDraining", "worker"), workerId: Id })
export const WorkerLeft = Schema.Struct({ ...envelope("WorkerLeft", "worker"), workerId: Id })

const TaskRef = { jobId: Id, index: Index, attempt: Attempt }

export const ProgressBeat = Schema.Struct({
  ...envelope("ProgressBeat", "worker"),
  workerId: Id,
  beats: Schema.Array(Schema.Struct({ ...TaskRef, progress: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })) }))
})
export const TaskCompleted = Schema.Struct({
  ...envelope("TaskCompleted", "worker"),
  workerId: Id,
  results: Schema.Array(Schema.Struct({ ...TaskRef, result: Schema.Unknown, ms: Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)) }))
})
export const TaskFailed = Schema.Struct({
  ...envelope("TaskFailed", "worker"),
  workerId: Id,
  failures: Schema.Array(Schema.Struct({ ...TaskRef, error: Schema.String, retryable: Schema.Boolean }))
})

/** A share's gradient (sync, async) or model delta (avg), computed on model `version`; the tensor is outside the log. */
export const GradientReported = Schema.Struct({
  ...envelope("GradientReported", "worker"),
  workerId: Id,
  ...TaskRef,
  version: Count,
  /** The epoch (from 1) and mini-batch (from 0) it covers; avg mode: the round, batch 0. */
  epoch: Attempt,
  batch: Count,
  rows: Count,
  /** Summed over the rows (divide by rows for the mean). */
  loss: Schema.Number.check(Schema.isFinite()),
  correct: Count,
  ms: Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)),
  tensor: TensorRef
})

// ---- facts (coordinator) ----
/** A coordinator process started (as a standby until it is elected). */
export const CoordinatorStarted = Schema.Struct({ ...envelope("CoordinatorStarted", "coordinator"), host: Schema.String, pid: Count })

// ---- decisions (coordinator) ----
/** A new term: this coordinator leads from here on; decisions of other epochs are fenced. */
export const CoordinatorElected = Schema.Struct({ ...decision("CoordinatorElected"), host: Schema.String, pid: Count })
export const TasksScheduled = Schema.Struct({ ...decision("TasksScheduled"), jobId: Id, count: Count })
export const JobRejected = Schema.Struct({ ...decision("JobRejected"), jobId: Id, reason: Schema.String })
export const TaskLeased = Schema.Struct({
  ...decision("TaskLeased"),
  workerId: Id,
  leases: Schema.Array(
    Schema.Struct({
      ...TaskRef,
      kind: Schema.String,
      input: Schema.Unknown,
      deadline: Timestamp,
      /** A copy of a straggling attempt: whichever finishes first wins. */
      speculative: Schema.optionalKey(Schema.Boolean)
    })
  )
})
export const RetryScheduled = Schema.Struct({
  ...decision("RetryScheduled"),
  jobId: Id,
  index: Index,
  attempt: Attempt, // the attempt that failed
  delayMs: Count,
  notBefore: Timestamp,
  reason: Schema.String
})
export const TaskReclaimed = Schema.Struct({
  ...decision("TaskReclaimed"),
  workerId: Id, // who held it: told to abort it (a late result may still win)
  jobId: Id,
  index: Index,
  attempt: Attempt,
  reason: Schema.String
})
/** An attempt that is no longer wanted (another copy won): its worker aborts it; a late result is a duplicate. */
export const AttemptAborted = Schema.Struct({
  ...decision("AttemptAborted"),
  workerId: Id,
  jobId: Id,
  index: Index,
  attempt: Attempt,
  reason: Schema.String
})
export const JobCompleted = Schema.Struct({
  ...decision("JobCompleted"),
  jobId: Id,
  result: Schema.String,
  /** A task job's outputs in input order, when they are small enough to travel in the event (else ask for them). */
  outputs: Schema.optionalKey(Schema.Array(Schema.Unknown))
})
export const JobFailed = Schema.Struct({
  ...decision("JobFailed"),
  jobId: Id,
  reason: Schema.String,
  /** The task that failed the job: its last error, and whether that error was retryable (then attempts ran out). */
  task: Schema.optionalKey(Schema.Struct({ index: Index, attempts: Count, error: Schema.String, retryable: Schema.Boolean }))
})
export const JobCancelled = Schema.Struct({ ...decision("JobCancelled"), jobId: Id, reason: Schema.String })
export const WorkerLost = Schema.Struct({ ...decision("WorkerLost"), workerId: Id, reason: Schema.String })

// ---- training decisions (coordinator) ----
const GradientRef = Schema.Struct({ index: Index, attempt: Attempt, version: Count, epoch: Attempt, batch: Count })
const Metric = Schema.Number.check(Schema.isFinite())

/** A new model version: the gradients it applied (none for version 0, the initial weights). */
export const ModelUpdated = Schema.Struct({
  ...decision("ModelUpdated"),
  jobId: Id,
  version: Count,
  tensor: TensorRef,
  applied: Schema.Array(GradientRef),
  lr: Metric
})
/** A gradient not applied: too stale (async), a batch already counted, or a straggler past its step. */
export const GradientDropped = Schema.Struct({ ...decision("GradientDropped"), jobId: Id, gradient: GradientRef, reason: Schema.String })
export const EpochCompleted = Schema.Struct({
  ...decision("EpochCompleted"),
  jobId: Id,
  /** The training epoch (from 1); `epoch` is the coordinator's term, as in every decision. */
  trainingEpoch: Attempt,
  version: Count,
  /** Mean training loss over the epoch's applied gradients, and their running accuracy. */
  loss: Metric,
  trainAccuracy: Schema.NullOr(Metric),
  testLoss: Schema.optionalKey(Metric),
  testAccuracy: Schema.optionalKey(Schema.NullOr(Metric)),
  ms: Metric,
  samples: Count,
  samplesPerSec: Metric,
  workers: Count,
  mode: Schema.String
})
export const EarlyStopped = Schema.Struct({
  ...decision("EarlyStopped"),
  jobId: Id,
  trainingEpoch: Attempt,
  bestEpoch: Attempt,
  bestVersion: Count,
  reason: Schema.String
})
/** The trained model is saved (Object Store) and evaluated; the shares end and the job completes. */
// ---- decisions about inference and fair sharing ----
/** From task `fromTask` on (none leased yet), batches of `batchSize` rows from row `fromRow`: the job has `count` tasks. */
export const BatchSizeChanged = Schema.Struct({
  ...decision("BatchSizeChanged"),
  jobId: Id,
  batchSize: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100_000 })),
  fromTask: Count,
  fromRow: Count,
  count: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
})
/** An inference job's predictions, in input order, stored in the Object Store (then it completes). */
export const PredictionsStored = Schema.Struct({
  ...decision("PredictionsStored"),
  jobId: Id,
  predictions: Schema.Struct({ bucket: Schema.String, name: Schema.String, digest: Schema.String, bytes: Count, rows: Count }),
  correct: Schema.optionalKey(Count),
  accuracy: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  confusion: Schema.optionalKey(Schema.Array(Schema.Array(Count)))
})
/**
 * Fair sharing: how many leases each running job may hold (its quota) out of the cluster's capacity, and
 * the measured figures the split came from. Spare capacity still goes to jobs that can use it.
 */
export const SharesAllocated = Schema.Struct({
  ...decision("SharesAllocated"),
  capacity: Count,
  reason: Schema.String,
  jobs: Schema.Array(
    Schema.Struct({
      jobId: Id,
      quota: Count,
      share: Schema.Number,
      /** Units (rows of an inference job, tasks otherwise) per second over the window; null before any. */
      rate: Schema.NullOr(Schema.Number),
      /** Busy lease-ms per unit over the window; null before any. */
      cost: Schema.NullOr(Schema.Number)
    })
  )
})

/**
 * Retention: finished jobs that leave the coordinator's live state (and the digest), oldest first. Their
 * events stay in the log until it is compacted; `reason` says which limit expired them (age or count).
 */
export const JobsExpired = Schema.Struct({
  ...decision("JobsExpired"),
  jobIds: Schema.Array(Id).check(Schema.isMinLength(1), Schema.isMaxLength(MAX_JOBS_EXPIRED_PER_EVENT)),
  reason: Schema.String
})

/**
 * Compaction: the events through `throughSeq` are purged from the stream, behind the snapshot of
 * `snapshotSeq` (>= throughSeq), which recovery starts from. Written before the purge, so it survives it.
 */
export const LogCompacted = Schema.Struct({
  ...decision("LogCompacted"),
  throughSeq: Count,
  snapshotSeq: Count,
  reason: Schema.String
})

export const TrainingFinished = Schema.Struct({
  ...decision("TrainingFinished"),
  jobId: Id,
  version: Count,
  epochs: Count,
  model: Schema.Struct({ bucket: Schema.String, name: Schema.String, digest: Schema.String, bytes: Count }),
  loss: Metric,
  trainAccuracy: Schema.NullOr(Metric),
  testLoss: Schema.optionalKey(Metric),
  testAccuracy: Schema.optionalKey(Schema.NullOr(Metric)),
  /** Rows: true class, columns: predicted (2x2 for a binary task). */
  confusion: Schema.optionalKey(Schema.Array(Schema.Array(Count))),
  stoppedEarly: Schema.Boolean
})

export const EventSchemas = {
  JobSubmitted,
  JobCancelRequested,
  BatchSizeRequested,
  WorkerJoined,
  WorkerDraining,
  WorkerLeft,
  ProgressBeat,
  TaskCompleted,
  TaskFailed,
  CoordinatorStarted,
  CoordinatorElected,
  TasksScheduled,
  JobRejected,
  TaskLeased,
  RetryScheduled,
  TaskReclaimed,
  AttemptAborted,
  JobCompleted,
  JobFailed,
  JobCancelled,
  WorkerLost,
  GradientReported,
  ModelUpdated,
  GradientDropped,
  EpochCompleted,
  EarlyStopped,
  TrainingFinished,
  BatchSizeChanged,
  PredictionsStored,
  SharesAllocated,
  JobsExpired,
  LogCompacted
} as const

export type EventType = keyof typeof EventSchemas
export type EventOf<T extends EventType> = (typeof EventSchemas)[T]["Type"]
export type DtqEvent = { [T in EventType]: EventOf<T> }[EventType]
export type Role = DtqEvent["writer"]["role"]
export type Decision = Extract<DtqEvent, { epoch: number; writer: { role: "coordinator" } }>

export const EVENT_TYPES = Object.keys(EventSchemas) as ReadonlyArray<EventType>
export const isEventType = (type: unknown): type is EventType =>
  typeof type === "string" && Object.hasOwn(EventSchemas, type)

/** All terms share one key, so a claim can be a compare-and-set on the last CoordinatorElected. */
export const TERM_KEY = "term"

/** Allocations concern the whole cluster: one key, so `nats stream view` can follow them alone. */
export const SHARES_KEY = "shares"

/** Retention and compaction decisions concern the whole cluster: one key. */
export const RETENTION_KEY = "retention"

/** The routing key of an event: the worker or job it concerns (used in its subject). */
export const routingKey = (event: DtqEvent): string => {
  switch (event.type) {
    case "WorkerJoined":
    case "WorkerDraining":
    case "WorkerLeft":
    case "ProgressBeat":
    case "TaskCompleted":
    case "TaskFailed":
    case "GradientReported": // a fact of its worker (before 0.2 on its job's subject: subject-scheme.ts)
    case "TaskLeased":
    case "TaskReclaimed":
    case "AttemptAborted":
    case "WorkerLost":
      return event.workerId
    case "CoordinatorElected":
      return TERM_KEY
    case "SharesAllocated":
      return SHARES_KEY
    case "JobsExpired":
    case "LogCompacted":
      return RETENTION_KEY
    case "CoordinatorStarted":
      return event.writer.id
    default:
      return event.jobId
  }
}
