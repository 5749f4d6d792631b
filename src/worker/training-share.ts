// A worker's share of a training job: one long-lived task that follows the model versions and reports
// gradients (sync, async) or model deltas (avg) as GradientReported facts, the tensors in the side stream.
// It ends, returning null, when the coordinator records TrainingFinished. A reclaimed share starts again
// elsewhere from what the coordinator's projection says (the current version; in async mode, the next batch).
import type { NatsConnection, Subscription } from "@nats-io/transport-node"
import { decodeEvent } from "../domain/event-codec.ts"
import type { DtqEvent } from "../domain/events.ts"
import { stepsPerEpoch, totalVersions, type TensorRef, type TrainingSpec } from "../domain/train-spec.ts"
import type { DatasetStore } from "../nats/dataset-store.ts"
import { controlSubject, eventTypeSubject } from "../nats/subjects.ts"
import type { TensorStore } from "../nats/tensor-store.ts"
import { nextAsyncBatch, syncStep } from "../projections/training.ts"
import { prepareTrainingData, type TrainingData } from "../training/job-data.ts"
import { epochLearningRate, shardSteps, type PassTotals } from "../training/local-trainer.ts"
import { accumulateGradient } from "../training/models.ts"
import { batchRows, epochOrder, shardRows, shareSlice } from "../training/sampling.ts"
import { abortableSleep } from "./abortable-sleep.ts"
import { TaskError, type TaskContext, type TaskHandler } from "./task-handler.ts"

/** What the coordinator tells a share when it starts (the `train-state` control reply). */
export type ShareStart = {
  readonly spec: TrainingSpec
  readonly version: number
  readonly tensor: TensorRef | undefined
  readonly finished: boolean
  readonly next: { epoch: number; batch: number }
}

export type TrainingServices = {
  readonly nc: NatsConnection
  readonly tensors: TensorStore
  readonly datasets: DatasetStore
  /** Appends a GradientReported fact (the worker's envelope is added by the caller). */
  readonly report: (gradient: GradientFields) => Promise<void>
  /**
   * Before each avg round after a share's first (the first is the task's own start): the worker's load
   * injection (--delay-rate, --reject-rate), as the course project's nodes delayed or refused a round's task.
   * A refusal fails the share's attempt (retryable): the share is placed again and goes on from the
   * current round on whichever worker the job's placement picks.
   */
  readonly beforeRound?: (signal: AbortSignal) => Promise<void>
}

export type GradientFields = {
  jobId: string
  index: number
  attempt: number
  version: number
  epoch: number
  batch: number
  rows: number
  loss: number
  correct: number
  ms: number
  tensor: TensorRef
}

/** How long a share waits for a new version before it asks the coordinator (a missed event heals here). */
const RECHECK_MS = 1000

export const trainingShareHandler = (services: TrainingServices): TaskHandler => async (input, context) => {
  const share = (input as { share?: unknown } | null)?.share
  if (typeof share !== "number") throw new TaskError("a training share's input must be { share: number }", { retryable: false })
  const follow = new VersionFollower(services, context.jobId)
  try {
    const start = await follow.start(share, context.signal)
    if (start.finished) return null
    const data = prepareTrainingData(start.spec, await services.datasets.get(start.spec.data), undefined)
    const run = new ShareRun(services, follow, start.spec, data, share, context)
    if (start.spec.mode === "sync") await run.sync()
    else if (start.spec.mode === "avg") await run.avg()
    else await run.async(start.next)
    await follow.finished(context.signal)
    return null
  } finally {
    follow.close()
  }
}

/** Tracks the newest model version of one job from its events, with a periodic check against the coordinator. */
class VersionFollower {
  readonly #services: TrainingServices
  readonly #jobId: string
  readonly #subscriptions: Subscription[] = []
  #share = 0
  version = -1
  tensor: TensorRef | undefined
  done = false
  #wake: (() => void) | undefined

  constructor(services: TrainingServices, jobId: string) {
    this.#services = services
    this.#jobId = jobId
  }

  async start(share: number, signal: AbortSignal): Promise<ShareStart> {
    this.#share = share
    const { nc, tensors } = this.#services
    // Subscribed before asking, so no version published in between is missed.
    this.#subscriptions.push(
      tensors.watch(`dtq.tensor.${this.#jobId}.m.*`),
      nc.subscribe(eventTypeSubject("ModelUpdated", this.#jobId), { callback: (_e, msg) => this.#onEvent(msg.data) }),
      nc.subscribe(eventTypeSubject("TrainingFinished", this.#jobId), { callback: (_e, msg) => this.#onEvent(msg.data) })
    )
    const start = await this.#ask(signal)
    this.#observe(start.version, start.tensor, start.finished)
    return start
  }

  /** The coordinator's view of this job for a share; retried while no coordinator answers (a fail-over). */
  async #ask(signal: AbortSignal): Promise<ShareStart> {
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw signal.reason
      try {
        const reply = await this.#services.nc.request(controlSubject("train-state"), JSON.stringify({ jobId: this.#jobId, share: this.#share }), { timeout: 2000 })
        const body = JSON.parse(new TextDecoder().decode(reply.data)) as ShareStart | { error: string }
        if ("error" in body) throw new TaskError(body.error, { retryable: true })
        return body
      } catch (error) {
        if (error instanceof TaskError || attempt >= 30) throw error
        await abortableSleep(Math.min(1000, 50 * 2 ** attempt), signal)
      }
    }
  }

  #onEvent(data: Uint8Array): void {
    const decoded = decodeEvent(data)
    if (!decoded.ok) return
    const event: DtqEvent = decoded.event
    if (event.type === "ModelUpdated" && event.jobId === this.#jobId) this.#observe(event.version, event.tensor, false)
    if (event.type === "TrainingFinished" && event.jobId === this.#jobId) this.#observe(this.version, this.tensor, true)
  }

  #observe(version: number, tensor: TensorRef | undefined, done: boolean): void {
    if (version > this.version && tensor !== undefined) {
      this.version = version
      this.tensor = tensor
    }
    if (done) this.done = true
    this.#wake?.()
  }

  /** Resolves once a version newer than `version` is out, or training is over. */
  async newerThan(version: number, signal: AbortSignal): Promise<void> {
    while (this.version <= version && !this.done) {
      if (signal.aborted) throw signal.reason
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), RECHECK_MS)
        this.#wake = () => {
          clearTimeout(timer)
          resolve(true)
        }
        signal.addEventListener("abort", () => resolve(true), { once: true })
      })
      this.#wake = undefined
      if (!woken && this.version <= version && !this.done) {
        const state = await this.#ask(signal)
        this.#observe(state.version, state.tensor, state.finished)
      }
    }
  }

  async finished(signal: AbortSignal): Promise<void> {
    while (!this.done) await this.newerThan(Number.MAX_SAFE_INTEGER, signal)
  }

  async weights(): Promise<{ version: number; values: Float32Array }> {
    const version = this.version
    const values = await this.#services.tensors.get(this.#jobId, "m", this.tensor as TensorRef)
    return { version, values }
  }

  close(): void {
    for (const sub of this.#subscriptions.splice(0)) sub.unsubscribe()
  }
}

class ShareRun {
  readonly #services: TrainingServices
  readonly #follow: VersionFollower
  readonly #spec: TrainingSpec
  readonly #data: TrainingData
  readonly #share: number
  readonly #context: TaskContext
  readonly #grad: Float32Array

  constructor(services: TrainingServices, follow: VersionFollower, spec: TrainingSpec, data: TrainingData, share: number, context: TaskContext) {
    this.#services = services
    this.#follow = follow
    this.#spec = spec
    this.#data = data
    this.#share = share
    this.#context = context
    this.#grad = new Float32Array(spec.parameters)
  }

  get #signal(): AbortSignal {
    return this.#context.signal
  }

  /** Each step: this share's slice of the step's mini-batch, on the current version; then wait for the next. */
  async sync(): Promise<void> {
    const spec = this.#spec
    const last = totalVersions(spec)
    let order: { epoch: number; rows: Int32Array } | undefined
    await this.#follow.newerThan(-1, this.#signal)
    while (!this.#follow.done && this.#follow.version < last) {
      const { version, values } = await this.#follow.weights()
      const step = syncStep(spec, version)
      if (order?.epoch !== step.epoch) order = { epoch: step.epoch, rows: epochOrder(spec.samples, spec.seed, step.epoch - 1) }
      const rows = shareSlice(batchRows(order.rows, step.batch, spec.batchSize), this.#share, spec.tasks)
      await this.#gradient(version, step.epoch, step.batch, values, rows)
      this.#context.progress((version + 1) / last)
      await this.#follow.newerThan(version, this.#signal)
    }
  }

  /** Parameter server: this share's batches in turn, each on the newest weights, applied on arrival. */
  async async(from: { epoch: number; batch: number }): Promise<void> {
    const spec = this.#spec
    const perEpoch = stepsPerEpoch(spec)
    let { epoch, batch } = from
    let order: { epoch: number; rows: Int32Array } | undefined
    await this.#follow.newerThan(-1, this.#signal)
    while (!this.#follow.done && epoch <= spec.epochs) {
      if (batch < perEpoch) {
        const { version, values } = await this.#follow.weights()
        if (order?.epoch !== epoch) order = { epoch, rows: epochOrder(spec.samples, spec.seed, epoch - 1) }
        await this.#gradient(version, epoch, batch, values, batchRows(order.rows, batch, spec.batchSize))
        this.#context.progress(((epoch - 1) * perEpoch + batch + 1) / (spec.epochs * perEpoch))
        // At most one gradient of ours in flight: wait until the model has moved on.
        await this.#follow.newerThan(version, this.#signal)
      }
      ;({ epoch, batch } = nextAsyncBatch(spec, this.#share, epoch, batch))
    }
  }

  /** Model averaging: each round, local epochs over this share's shard from the round's model; report the delta. */
  async avg(): Promise<void> {
    const spec = this.#spec
    const shard = shardRows(spec.samples, spec.seed, this.#share, spec.tasks)
    await this.#follow.newerThan(-1, this.#signal)
    let rounds = 0
    while (!this.#follow.done && this.#follow.version < spec.epochs) {
      if (rounds++ > 0) await this.#services.beforeRound?.(this.#signal)
      const { version, values } = await this.#follow.weights()
      const round = version + 1
      const started = performance.now()
      const local = await this.#trainShard(shard, values, round)
      const delta = local.params
      for (let i = 0; i < delta.length; i++) delta[i] = (delta[i] as number) - (values[i] as number)
      // Per-row means over the local epochs, expressed as sums over the shard's rows.
      const passes = Math.max(1, spec.localEpochs)
      await this.#send(version, round, 0, delta, shard.length, local.loss / passes, Math.round(local.correct / passes), performance.now() - started)
      this.#context.progress(round / spec.epochs)
      await this.#follow.newerThan(version, this.#signal)
    }
  }

  /** One avg round on this share's shard (trainShardLocally's steps), yielding to the event loop every ~50 ms. */
  async #trainShard(shard: Int32Array, start: Float32Array, round: number): Promise<{ params: Float32Array; loss: number; correct: number }> {
    const spec = this.#spec
    const params = start.slice()
    const totals: PassTotals = { loss: 0, correct: 0, count: 0 }
    const { shape, target, train } = this.#data
    const lr = epochLearningRate(spec.lr, spec.lrDecay, round - 1)
    const steps = shardSteps({ shape, target, train, rows: shard, localEpochs: spec.localEpochs, batchSize: spec.batchSize, lr, seed: spec.seed, round: round - 1 }, params, totals)
    let since = performance.now()
    while (steps.next().done !== true) {
      if (performance.now() - since > 50) {
        await new Promise((resolve) => setImmediate(resolve))
        if (this.#signal.aborted) throw this.#signal.reason
        since = performance.now()
      }
    }
    return { params, loss: totals.loss, correct: totals.correct }
  }

  async #gradient(version: number, epoch: number, batch: number, params: Float32Array, rows: Int32Array): Promise<void> {
    const started = performance.now()
    const grad = this.#grad
    grad.fill(0)
    const sums = accumulateGradient(this.#data.shape, this.#data.target, params, this.#data.train, rows, grad)
    await this.#send(version, epoch, batch, grad, sums.count, sums.loss, sums.correct, performance.now() - started)
  }

  async #send(version: number, epoch: number, batch: number, values: Float32Array, rows: number, loss: number, correct: number, ms: number): Promise<void> {
    if (this.#signal.aborted) throw this.#signal.reason
    const jobId = this.#context.jobId
    const tensor = await this.#services.tensors.put(jobId, "g", values)
    await this.#services.report({ jobId, index: this.#share, attempt: this.#context.attempt, version, epoch, batch, rows, loss, correct, ms, tensor })
  }
}
