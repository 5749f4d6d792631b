// The training part of the fold: model versions, the gradients waiting to be applied, per-epoch figures,
// early stopping and the end of training. Pure, like the rest of the fold; tensors are referenced by digest.
//
// Versions: 0 is the initial model; sync and async make one version per applied update, avg one per round.
// Sync (and avg) wait for the shares' gradients *on the current version*; async takes any gradient whose
// base is at most `staleness` versions old. An epoch is complete when every one of its mini-batches has
// been applied or dropped; the coordinator then records EpochCompleted before it applies anything else.
import type { EventOf } from "../domain/events.ts"
import { stepsPerEpoch, type TensorRef, type TrainingSpec } from "../domain/train-spec.ts"

export type GradientKey = string

export type PendingGradient = {
  readonly index: number
  readonly attempt: number
  readonly workerId: string
  readonly version: number
  readonly epoch: number
  readonly batch: number
  readonly rows: number
  readonly loss: number
  readonly correct: number
  readonly tensor: TensorRef
  readonly at: number
}

export type EpochStats = { loss: number; correct: number; rows: number; batches: number; startedAt: number }

export type EpochRecord = Omit<EventOf<"EpochCompleted">, "type" | "id" | "v" | "writer" | "epoch" | "jobId" | "trainingEpoch"> & { readonly epoch: number; readonly at: number }

export type TrainingState = {
  /** The current model version (-1: the initial one is not out yet). */
  version: number
  tensor: TensorRef | undefined
  versionAt: number
  /** Reported, not yet applied or dropped. Sync/avg: key = share; async: key = `epoch.batch`. */
  readonly pending: Map<GradientKey, PendingGradient>
  /** Per epoch in progress: what its applied gradients add up to. */
  readonly stats: Map<number, EpochStats>
  /** Async: mini-batches of each epoch applied or dropped (a batch counts once). */
  readonly accounted: Map<number, Set<number>>
  /** Async: where each share goes on (its next epoch and batch), for a new holder after a reclaim. */
  readonly shareNext: Array<{ epoch: number; batch: number }>
  epochsDone: number
  /** The epoch whose EpochCompleted is due (its last batch is in); 0: none. */
  awaitingEpoch: number
  readonly epochs: EpochRecord[]
  best: { epoch: number; version: number; tensor: TensorRef; loss: number } | undefined
  stopped: { epoch: number; bestEpoch: number; bestVersion: number; reason: string } | undefined
  finished: Omit<EventOf<"TrainingFinished">, "type" | "id" | "v" | "writer" | "epoch" | "jobId"> | undefined
  updates: number
  dropped: number
}

export const newTrainingState = (spec: TrainingSpec): TrainingState => ({
  version: -1,
  tensor: undefined,
  versionAt: 0,
  pending: new Map(),
  stats: new Map(),
  accounted: new Map(),
  shareNext: Array.from({ length: spec.tasks }, (_, share) => ({ epoch: 1, batch: share })),
  epochsDone: 0,
  awaitingEpoch: 0,
  epochs: [],
  best: undefined,
  stopped: undefined,
  finished: undefined,
  updates: 0,
  dropped: 0
})

export const pendingKey = (spec: TrainingSpec, g: { index: number; epoch: number; batch: number }): GradientKey =>
  spec.mode === "async" ? `${g.epoch}.${g.batch}` : String(g.index)

/** The epoch and batch that a sync step on `version` covers. */
export const syncStep = (spec: TrainingSpec, version: number): { epoch: number; batch: number } => {
  const steps = stepsPerEpoch(spec)
  return { epoch: Math.floor(version / steps) + 1, batch: version % steps }
}

/** Mini-batches an epoch has: per step in sync and async, one per round in avg. */
export const batchesIn = (spec: TrainingSpec): number => (spec.mode === "avg" ? 1 : stepsPerEpoch(spec))

/** Why a reported gradient cannot be accepted (undefined: it can, or it is moot and ignored: see `isMoot`). */
export const gradientProblem = (spec: TrainingSpec, t: TrainingState, g: EventOf<"GradientReported">): string | undefined => {
  const where = `gradient of share ${g.index} attempt ${g.attempt} on version ${g.version}`
  if (g.version > t.version) return `${where}: version ${g.version} was never published (current ${t.version})`
  if (g.epoch > spec.epochs) return `${where}: epoch ${g.epoch} is past the last (${spec.epochs})`
  if (g.batch >= batchesIn(spec)) return `${where}: batch ${g.batch} is past the epoch's last (${batchesIn(spec) - 1})`
  if (spec.mode === "sync") {
    const step = syncStep(spec, g.version)
    if (g.epoch !== step.epoch || g.batch !== step.batch) return `${where}: version ${g.version} is step ${step.epoch}.${step.batch}, not ${g.epoch}.${g.batch}`
  }
  if (spec.mode === "avg" && g.epoch !== g.version + 1) return `${where}: round ${g.epoch} starts from version ${g.epoch - 1}`
  if (spec.mode === "async" && g.batch % spec.tasks !== g.index % spec.tasks) return `${where}: batch ${g.batch} belongs to share ${g.batch % spec.tasks}`
  return undefined
}

/** A gradient overtaken by events: a step or round that is already applied, a batch already counted. */
export const isMoot = (spec: TrainingSpec, t: TrainingState, g: EventOf<"GradientReported">): boolean => {
  if (t.finished !== undefined || t.stopped !== undefined) return true
  if (spec.mode !== "async") return g.version < t.version || t.pending.has(pendingKey(spec, g))
  return g.epoch <= t.epochsDone || (t.accounted.get(g.epoch)?.has(g.batch) ?? false) || t.pending.has(pendingKey(spec, g))
}

/** `now`: the fold's time (when the stream stored the event), never the writer's `ts`. */
export const gradientReported = (spec: TrainingSpec, t: TrainingState, g: EventOf<"GradientReported">, now: number): void => {
  t.pending.set(pendingKey(spec, g), {
    index: g.index,
    attempt: g.attempt,
    workerId: g.workerId,
    version: g.version,
    epoch: g.epoch,
    batch: g.batch,
    rows: g.rows,
    loss: g.loss,
    correct: g.correct,
    tensor: g.tensor,
    at: now
  })
  if (spec.mode === "async") {
    const next = t.shareNext[g.index]
    const after = nextAsyncBatch(spec, g.index, g.epoch, g.batch)
    if (next !== undefined && (after.epoch > next.epoch || (after.epoch === next.epoch && after.batch > next.batch))) t.shareNext[g.index] = after
  }
}

/** The batch a share computes after (epoch, batch) in async mode: its batches are share, share + n, ... */
export const nextAsyncBatch = (spec: TrainingSpec, share: number, epoch: number, batch: number): { epoch: number; batch: number } => {
  const next = batch + spec.tasks
  return next < stepsPerEpoch(spec) ? { epoch, batch: next } : { epoch: epoch + 1, batch: share }
}

/** Why a ModelUpdated cannot be applied (undefined: it can). */
export const modelUpdateProblem = (spec: TrainingSpec, t: TrainingState, e: EventOf<"ModelUpdated">): string | undefined => {
  if (t.finished !== undefined) return `training of ${e.jobId} has finished`
  if (e.version !== t.version + 1) return `version ${e.version} does not follow ${t.version}`
  if (e.version === 0 && e.applied.length > 0) return "the initial model applies no gradient"
  if (e.version > 0 && e.applied.length === 0) return `version ${e.version} applies no gradient`
  if (t.awaitingEpoch > 0) return `epoch ${t.awaitingEpoch} is not recorded yet`
  for (const g of e.applied) {
    const pending = t.pending.get(pendingKey(spec, g))
    if (pending === undefined || pending.attempt !== g.attempt || pending.version !== g.version) {
      return `gradient of share ${g.index} attempt ${g.attempt} (${g.epoch}.${g.batch}) is not pending`
    }
  }
  return undefined
}

export const modelUpdated = (spec: TrainingSpec, t: TrainingState, e: EventOf<"ModelUpdated">, now: number): void => {
  t.version = e.version
  t.tensor = e.tensor
  t.versionAt = now
  if (e.version === 0) {
    t.stats.set(1, { loss: 0, correct: 0, rows: 0, batches: 0, startedAt: now })
    return
  }
  t.updates++
  for (const g of e.applied) {
    const pending = t.pending.get(pendingKey(spec, g)) as PendingGradient
    t.pending.delete(pendingKey(spec, g))
    const stats = statsOf(t, pending.epoch, now)
    stats.loss += pending.loss
    stats.correct += pending.correct
    stats.rows += pending.rows
    account(spec, t, pending.epoch, pending.batch, now)
  }
  // Sync and avg: the step is done; gradients of the same version that were not applied are stragglers.
  if (spec.mode !== "async") {
    for (const [key, g] of t.pending) if (g.version < e.version) t.pending.delete(key)
  }
}

const statsOf = (t: TrainingState, epoch: number, ts: number): EpochStats => {
  let stats = t.stats.get(epoch)
  if (stats === undefined) {
    stats = { loss: 0, correct: 0, rows: 0, batches: 0, startedAt: ts }
    t.stats.set(epoch, stats)
  }
  return stats
}

/** Counts a mini-batch as done (applied or dropped); the epoch is due for its record when all are. */
const account = (spec: TrainingSpec, t: TrainingState, epoch: number, batch: number, ts: number): void => {
  const stats = statsOf(t, epoch, ts)
  if (spec.mode === "async") {
    let done = t.accounted.get(epoch)
    if (done === undefined) {
      done = new Set()
      t.accounted.set(epoch, done)
    }
    if (done.has(batch)) return
    done.add(batch)
    stats.batches = done.size
  } else stats.batches = Math.max(stats.batches, batch + 1)
  if (t.awaitingEpoch === 0 && epoch === t.epochsDone + 1 && stats.batches >= batchesIn(spec)) t.awaitingEpoch = epoch
}

export const gradientDropped = (spec: TrainingSpec, t: TrainingState, e: EventOf<"GradientDropped">, now: number): void => {
  const key = pendingKey(spec, e.gradient)
  const pending = t.pending.get(key)
  if (pending !== undefined && pending.attempt === e.gradient.attempt && pending.version === e.gradient.version) t.pending.delete(key)
  t.dropped++
  // Async: a dropped batch still counts towards its epoch (its rows simply taught nothing).
  if (spec.mode === "async") account(spec, t, e.gradient.epoch, e.gradient.batch, now)
}

export const epochProblem = (t: TrainingState, e: EventOf<"EpochCompleted">): string | undefined =>
  t.awaitingEpoch !== e.trainingEpoch ? `epoch ${e.trainingEpoch} is not due (${t.awaitingEpoch === 0 ? "none is" : `epoch ${t.awaitingEpoch} is`})` : undefined

export const epochCompleted = (spec: TrainingSpec, t: TrainingState, e: EventOf<"EpochCompleted">, now: number): void => {
  const { type: _type, id: _id, v: _v, writer: _writer, epoch: _term, jobId: _jobId, trainingEpoch: epoch, ...figures } = e
  t.epochs.push({ ...figures, epoch, at: now })
  t.epochsDone = epoch
  t.awaitingEpoch = 0
  t.stats.delete(epoch)
  t.accounted.delete(epoch)
  if (!t.stats.has(epoch + 1)) t.stats.set(epoch + 1, { loss: 0, correct: 0, rows: 0, batches: 0, startedAt: now })
  const monitored = e.testLoss ?? e.loss
  if (t.tensor !== undefined && (t.best === undefined || monitored < t.best.loss - spec.minDelta)) {
    t.best = { epoch, version: e.version, tensor: t.tensor, loss: monitored }
  }
  // The next epoch may already be complete (async shares run ahead).
  const next = t.stats.get(epoch + 1)
  if (next !== undefined && epoch < spec.epochs && next.batches >= batchesIn(spec)) t.awaitingEpoch = epoch + 1
}

/** Early stopping: no improvement of the monitored loss (test loss, else training loss) for `patience` epochs. */
export const shouldStopEarly = (spec: TrainingSpec, t: TrainingState): boolean =>
  spec.patience > 0 && t.best !== undefined && t.epochsDone - t.best.epoch >= spec.patience && t.epochsDone < spec.epochs

/** Training is over: every epoch recorded, or stopped early. */
export const isTrainingOver = (spec: TrainingSpec, t: TrainingState): boolean => t.epochsDone >= spec.epochs || t.stopped !== undefined
