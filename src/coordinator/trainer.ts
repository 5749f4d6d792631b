// The coordinator's half of training: it turns the fold's training state into decisions. Publish the
// initial model; when a step's gradients are in (sync), a round's deltas (avg) or any fresh gradient
// (async), apply them and publish the next version; record each epoch with its test figures; stop early;
// save the final model and finish. Everything it needs is in the fold or in the tensor stream, so a new
// coordinator continues from the last version in the log.
import type { DtqEvent } from "../domain/events.ts"
import type { ResolvedTrainSpec } from "../domain/job-spec.ts"
import type { TensorRef } from "../domain/train-spec.ts"
import type { DatasetStore } from "../nats/dataset-store.ts"
import type { ModelStore } from "../nats/model-store.ts"
import type { TensorStore } from "../nats/tensor-store.ts"
import type { ClusterState, JobState } from "../projections/state.ts"
import { isTrainingOver, shouldStopEarly, syncStep, type PendingGradient, type TrainingState } from "../projections/training.ts"
import { prepareTrainingData, shapeOf, type TrainingData } from "../training/job-data.ts"
import { epochLearningRate } from "../training/local-trainer.ts"
import { evaluate, initParameters } from "../training/models.ts"

/** A training decision without its envelope (the coordinator adds id, ts, writer and epoch). */
export type TrainingDraft = DistributiveOmit<Extract<DtqEvent, { type: "ModelUpdated" | "GradientDropped" | "EpochCompleted" | "EarlyStopped" | "TrainingFinished" }>, "id" | "v" | "ts" | "writer" | "epoch">
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export type TrainerDeps = {
  readonly tensors: TensorStore
  readonly datasets: DatasetStore
  readonly models: ModelStore
  /** Appends a decision; resolves once it is stored (false: not allowed to decide now). */
  readonly decide: (draft: TrainingDraft) => Promise<boolean>
  readonly say: (line: string) => void
  /** The coordinator's clock (the stream's time): epoch durations count from the fold's times. */
  readonly now: () => number
}

/** How long to wait for an own decision to come back through the log before deciding again. */
const ECHO_TIMEOUT_MS = 5000

export class Trainer {
  readonly #deps: TrainerDeps
  readonly #busy = new Set<string>()
  /** The training state's `marker` at our last decision: no new decision for that job until it changes. */
  readonly #awaiting = new Map<string, { marker: string; since: number }>()
  readonly #data = new Map<string, Promise<TrainingData>>()
  readonly #failed = new Set<string>()

  constructor(deps: TrainerDeps) {
    this.#deps = deps
  }

  /** Looks at every running training job; starts the next decision where one is due. */
  poll(state: ClusterState, now: number): void {
    for (const jobId of this.#data.keys()) if (!state.activeJobs.has(jobId)) this.forget(jobId)
    for (const jobId of state.activeJobs) {
      const job = state.jobs.get(jobId)
      if (job?.training === undefined || job.spec.kind !== "train" || job.phase !== "running" || job.cancelRequested !== undefined) continue
      if (this.#busy.has(jobId) || this.#failed.has(jobId)) continue
      const awaiting = this.#awaiting.get(jobId)
      if (awaiting !== undefined) {
        if (awaiting.marker === marker(job.training) && now - awaiting.since < ECHO_TIMEOUT_MS) continue
        this.#awaiting.delete(jobId)
      }
      const spec = job.spec
      const training = job.training
      if (!this.#due(spec, training)) continue
      this.#busy.add(jobId)
      this.#advance(job, spec, training)
        .catch((error: Error) => {
          this.#deps.say(`training ${jobId}: ${error.message}; will try again`)
        })
        .finally(() => this.#busy.delete(jobId))
    }
  }

  /** Forgets a job's cached data (it ended). */
  forget(jobId: string): void {
    this.#data.delete(jobId)
    this.#awaiting.delete(jobId)
  }

  #due(spec: ResolvedTrainSpec, t: TrainingState): boolean {
    if (t.finished !== undefined) return false
    if (t.version < 0 || t.awaitingEpoch > 0 || isTrainingOver(spec, t) || shouldStopEarly(spec, t)) return true
    if (spec.mode === "async") return t.pending.size > 0
    let ready = 0
    for (const g of t.pending.values()) if (g.version === t.version) ready++
    return ready >= spec.tasks - spec.backup
  }

  async #advance(job: JobState, spec: ResolvedTrainSpec, t: TrainingState): Promise<void> {
    const jobId = job.jobId
    const before = marker(t)
    const decided = async (draft: TrainingDraft): Promise<void> => {
      if (!(await this.#deps.decide(draft))) throw new Error("not leading")
    }
    if (t.version < 0) {
      // The data is needed only at the first epoch's end: loaded meanwhile, off the critical path.
      void this.#dataOf(job, spec).catch(() => undefined)
      const initial = spec.initTensor !== undefined
        ? await this.#deps.tensors.get(jobId, "m", spec.initTensor)
        : initParameters(shapeOf(spec), spec.init === "weights" ? "zeros" : spec.init, spec.seed)
      const tensor = await this.#deps.tensors.put(jobId, "m", initial)
      await decided({ type: "ModelUpdated", jobId, version: 0, tensor, applied: [], lr: spec.lr })
    } else if (t.awaitingEpoch > 0) {
      await this.#recordEpoch(job, spec, t, decided)
    } else if (shouldStopEarly(spec, t) && t.stopped === undefined) {
      const best = t.best as NonNullable<TrainingState["best"]>
      await decided({
        type: "EarlyStopped",
        jobId,
        trainingEpoch: t.epochsDone,
        bestEpoch: best.epoch,
        bestVersion: best.version,
        reason: `no improvement of the ${spec.test === undefined ? "training" : "test"} loss by more than ${spec.minDelta} in ${spec.patience} epoch(s); keeping epoch ${best.epoch}`
      })
    } else if (isTrainingOver(spec, t)) {
      await this.#finish(job, spec, t, decided)
    } else {
      await this.#step(job, spec, t, decided)
    }
    this.#awaiting.set(jobId, { marker: before, since: this.#deps.now() })
  }

  async #step(job: JobState, spec: ResolvedTrainSpec, t: TrainingState, decided: (d: TrainingDraft) => Promise<void>): Promise<void> {
    const jobId = job.jobId
    const weights = (await this.#deps.tensors.get(jobId, "m", t.tensor as TensorRef)).slice()
    if (spec.mode === "async") {
      const fresh: PendingGradient[] = []
      for (const g of [...t.pending.values()].sort((a, b) => a.at - b.at)) {
        if (t.version - g.version > spec.staleness) {
          await decided({ type: "GradientDropped", jobId, gradient: ref(g), reason: `stale: computed on version ${g.version}, the model is at ${t.version} (staleness bound ${spec.staleness})` })
        } else fresh.push(g)
      }
      if (fresh.length === 0) return
      let lr = spec.lr
      for (const g of fresh) {
        lr = epochLearningRate(spec.lr, spec.lrDecay, g.epoch - 1)
        const grad = await this.#deps.tensors.get(jobId, "g", g.tensor)
        if (g.rows > 0) axpy(weights, grad, -lr / g.rows)
      }
      await this.#publish(jobId, t.version + 1, weights, fresh, lr, decided)
      return
    }
    // Sync and avg: the step's gradients on the current version; with backup workers, the first to arrive.
    const candidates = [...t.pending.values()].filter((g) => g.version === t.version).sort((a, b) => a.at - b.at)
    const chosen = candidates.slice(0, spec.tasks - spec.backup).sort((a, b) => a.index - b.index)
    const grads = await Promise.all(chosen.map((g) => this.#deps.tensors.get(jobId, "g", g.tensor)))
    const rows = chosen.reduce((n, g) => n + g.rows, 0)
    const epoch = spec.mode === "sync" ? syncStep(spec, t.version).epoch : t.version + 1
    const lr = epochLearningRate(spec.lr, spec.lrDecay, epoch - 1)
    if (rows > 0) {
      // Sync: SGD on the summed gradient over all rows, added in share order (deterministic).
      // Avg: the deltas, each weighted by its shard's rows.
      const sum = new Float32Array(weights.length)
      for (let i = 0; i < chosen.length; i++) axpy(sum, grads[i] as Float32Array, spec.mode === "sync" ? 1 : (chosen[i] as PendingGradient).rows)
      axpy(weights, sum, spec.mode === "sync" ? -lr / rows : 1 / rows)
    }
    await this.#publish(jobId, t.version + 1, weights, chosen, lr, decided)
  }

  async #publish(jobId: string, version: number, weights: Float32Array, applied: PendingGradient[], lr: number, decided: (d: TrainingDraft) => Promise<void>): Promise<void> {
    const tensor = await this.#deps.tensors.put(jobId, "m", weights)
    await decided({ type: "ModelUpdated", jobId, version, tensor, applied: applied.map(ref), lr })
  }

  async #recordEpoch(job: JobState, spec: ResolvedTrainSpec, t: TrainingState, decided: (d: TrainingDraft) => Promise<void>): Promise<void> {
    const jobId = job.jobId
    const epoch = t.awaitingEpoch
    const stats = t.stats.get(epoch) ?? { loss: 0, correct: 0, rows: 0, batches: 0, startedAt: t.versionAt }
    const data = await this.#dataOf(job, spec)
    const weights = await this.#deps.tensors.get(jobId, "m", t.tensor as TensorRef)
    const tested = data.test === undefined ? undefined : evaluate(data.shape, data.target, weights, data.test)
    const ms = Math.max(0, this.#deps.now() - stats.startedAt)
    const monitored = tested?.loss ?? (stats.rows === 0 ? 0 : stats.loss / stats.rows)
    // The best model so far is kept under its own subject: model versions are pruned, the best is not.
    if (t.best === undefined || monitored < t.best.loss - spec.minDelta) await this.#deps.tensors.put(jobId, "b", weights)
    await decided({
      type: "EpochCompleted",
      jobId,
      trainingEpoch: epoch,
      version: t.version,
      loss: stats.rows === 0 ? 0 : stats.loss / stats.rows,
      trainAccuracy: data.target.kind === "regression" ? null : stats.rows === 0 ? 0 : stats.correct / stats.rows,
      ...(tested === undefined ? {} : { testLoss: tested.loss, testAccuracy: tested.accuracy }),
      ms,
      samples: stats.rows,
      samplesPerSec: ms === 0 ? 0 : (stats.rows * 1000) / ms,
      workers: new Set([...job.running.values()].map((r) => r.workerId)).size,
      mode: spec.mode
    })
    // Older versions and gradients are no longer needed by anyone.
    void Promise.all([this.#deps.tensors.prune(jobId, "m", 4), this.#deps.tensors.prune(jobId, "g", 4 * spec.tasks), this.#deps.tensors.prune(jobId, "b", 2)]).catch(() => undefined)
  }

  async #finish(job: JobState, spec: ResolvedTrainSpec, t: TrainingState, decided: (d: TrainingDraft) => Promise<void>): Promise<void> {
    const jobId = job.jobId
    const useBest = t.stopped !== undefined && t.best !== undefined
    const final = useBest ? (t.best as NonNullable<TrainingState["best"]>) : { version: t.version, tensor: t.tensor as TensorRef }
    const weights = await this.#deps.tensors.get(jobId, useBest ? "b" : "m", final.tensor)
    const data = await this.#dataOf(job, spec)
    const tested = data.test === undefined ? undefined : evaluate(data.shape, data.target, weights, data.test)
    const model = await this.#deps.models.put(jobId, weights, {
      model: spec.model,
      task: spec.task,
      features: String(spec.features),
      outputs: String(spec.outputs),
      hidden: String(spec.hidden),
      version: String(final.version)
    })
    const last = t.epochs.at(-1)
    const atBest = useBest ? t.epochs.find((e) => e.epoch === (t.best as NonNullable<TrainingState["best"]>).epoch) : last
    await decided({
      type: "TrainingFinished",
      jobId,
      version: final.version,
      epochs: t.epochsDone,
      model,
      loss: atBest?.loss ?? 0,
      trainAccuracy: atBest?.trainAccuracy ?? null,
      ...(tested === undefined ? {} : { testLoss: tested.loss, testAccuracy: tested.accuracy, confusion: tested.confusion }),
      stoppedEarly: t.stopped !== undefined
    })
    this.#deps.say(`training ${jobId} finished at version ${final.version}${tested?.accuracy == null ? "" : `, test accuracy ${tested.accuracy.toFixed(4)}`}`)
    void this.#deps.tensors.purgeJob(jobId).catch(() => undefined)
  }

  #dataOf(job: JobState, spec: ResolvedTrainSpec): Promise<TrainingData> {
    let data = this.#data.get(job.jobId)
    if (data === undefined) {
      data = Promise.all([this.#deps.datasets.get(spec.data), spec.test === undefined ? undefined : this.#deps.datasets.get(spec.test)]).then(([train, test]) =>
        prepareTrainingData(spec, train, test)
      )
      this.#data.set(job.jobId, data)
      data.catch(() => this.#data.delete(job.jobId))
    }
    return data
  }
}

/** What identifies the training state's progress: a decision is awaited until this changes. */
const marker = (t: TrainingState): string =>
  `${t.version}/${t.epochsDone}/${t.awaitingEpoch}/${t.stopped === undefined ? 0 : 1}/${t.finished === undefined ? 0 : 1}/${t.dropped}`

const ref = (g: PendingGradient) => ({ index: g.index, attempt: g.attempt, version: g.version, epoch: g.epoch, batch: g.batch })

/** y += a * x */
const axpy = (y: Float32Array, x: Float32Array, a: number): void => {
  for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) + a * (x[i] as number)
}
