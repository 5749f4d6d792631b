// A worker's batch of an inference job: rows [from, to) of the job's data set through the trained model.
// The job's spec is read once from its JobSubmitted event; the weights (by digest) and the scaled rows
// are loaded once and kept for the following batches. Concurrent first batches share one load.
import type { JetStreamManager } from "@nats-io/jetstream"
import type { Dataset } from "../data/dataset.ts"
import { decodeEvent } from "../domain/event-codec.ts"
import { classesOf, type BatchResult } from "../domain/infer-spec.ts"
import type { ResolvedInferSpec } from "../domain/job-spec.ts"
import type { DataRef } from "../domain/train-spec.ts"
import { needsTrainingRows, prepareInferenceData } from "../inference/infer-data.ts"
import { predictBatch } from "../inference/predict.ts"
import type { DatasetStore } from "../nats/dataset-store.ts"
import type { ModelStore } from "../nats/model-store.ts"
import { retryPromise } from "../nats/retry.ts"
import { EVENTS_STREAM, eventTypeSubject } from "../nats/subjects.ts"
import { shapeOf, targetOf } from "../training/job-data.ts"
import { TaskError, type TaskHandler } from "./task-handler.ts"

export type InferenceServices = {
  /** The event log (anything with its JetStream manager): where the job's JobSubmitted is read. */
  readonly log: { readonly jsm: JetStreamManager }
  readonly datasets: Pick<DatasetStore, "get">
  readonly models: Pick<ModelStore, "get">
}

const CACHED_JOBS = 16
const CACHED_MODELS = 4
const CACHED_DATA = 4
/** A read that fails during a stream-leader fail-over is worth a few quick tries before the task fails. */
const READ_RETRY = { times: 4, baseMs: 100, maxMs: 1000 } as const

/** Promises by key, the least recently used dropped beyond `limit`; a failed load is forgotten. */
class PromiseCache<V> {
  readonly #limit: number
  readonly #entries = new Map<string, Promise<V>>()

  constructor(limit: number) {
    this.#limit = limit
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    const cached = this.#entries.get(key)
    if (cached !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, cached)
      return cached
    }
    const loading = load()
    this.#entries.set(key, loading)
    loading.catch(() => {
      if (this.#entries.get(key) === loading) this.#entries.delete(key)
    })
    while (this.#entries.size > this.#limit) this.#entries.delete(this.#entries.keys().next().value as string)
    return loading
  }
}

const refuse = (message: string): never => {
  throw new TaskError(message, { retryable: false })
}

/** Rows [from, to) from a lease input, or a refusal. */
const rowsOf = (input: unknown): { from: number; to: number } => {
  const { from, to } = (typeof input === "object" && input !== null ? input : {}) as { from?: unknown; to?: unknown }
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) return refuse(`an inference batch's input must be { from: integer, to: integer }, got ${JSON.stringify(input)?.slice(0, 100)}`)
  return { from: from as number, to: to as number }
}

/** A load that failed for a reason that may pass (a missing object, a server away), naming what it loads. */
const retryable = (what: string) => (error: unknown): never => {
  if (error instanceof TaskError) throw error
  throw new TaskError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error })
}

let lastTurn: Promise<void> = Promise.resolve()

/** Resolves in a later turn of the event loop than every earlier caller's: computations take turns. */
const nextTurn = (): Promise<void> => {
  const turn = lastTurn.then(() => new Promise<void>((resolve) => setImmediate(resolve)))
  lastTurn = turn
  return turn
}

export const inferenceHandler = (services: InferenceServices): TaskHandler => {
  const specs = new PromiseCache<ResolvedInferSpec>(CACHED_JOBS)
  const weights = new PromiseCache<Float32Array>(CACHED_MODELS)
  const prepared = new PromiseCache<Dataset>(CACHED_DATA)

  const readSpec = async (jobId: string): Promise<ResolvedInferSpec> => {
    const subject = eventTypeSubject("JobSubmitted", jobId)
    const msg = await retryPromise(
      () => services.log.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject }).catch((error: Error) => {
        if (/no message found|not found/i.test(error.message)) return null
        throw error
      }),
      READ_RETRY
    ).catch(retryable(`job ${jobId}: reading its JobSubmitted event`))
    if (msg === null) throw new TaskError(`job ${jobId}: no JobSubmitted event on ${subject}`, { retryable: true })
    const decoded = decodeEvent(msg.data)
    if (!decoded.ok) return refuse(`job ${jobId}: its JobSubmitted event cannot be read (${decoded.reason})`)
    if (decoded.event.type !== "JobSubmitted") return refuse(`job ${jobId}: ${subject} holds a ${decoded.event.type} event`)
    const spec = decoded.event.spec
    if (spec.kind !== "infer") return refuse(`job ${jobId} is a ${spec.kind} job, not an inference job`)
    return spec
  }

  const loadData = (ref: DataRef, role: string): Promise<Dataset> =>
    services.datasets.get(ref).catch(retryable(`${role} ${ref.name} (${ref.source})`))

  const prepare = (spec: ResolvedInferSpec): Promise<Dataset> => {
    const { trained, data } = spec
    const key = `${trained.data.digest}/${trained.samples}/${trained.normalize}/${data.digest}`
    return prepared.get(key, async () => {
      const [train, rows] = await Promise.all([
        needsTrainingRows(spec) ? loadData(trained.data, "the model's training data") : undefined,
        loadData(data, "the inference data")
      ])
      return prepareInferenceData(spec, train, rows)
    })
  }

  return async (input, context): Promise<BatchResult> => {
    const { from, to } = rowsOf(input)
    const spec = await specs.get(context.jobId, () => readSpec(context.jobId))
    if (!(0 <= from && from < to && to <= spec.data.rows)) refuse(`rows [${from}, ${to}) are not a batch of the ${spec.data.rows} rows of ${spec.data.source}`)
    const model = spec.model
    const [params, data] = await Promise.all([
      weights.get(model.digest, () => services.models.get(model.name, model.digest).catch(retryable(`the model of job ${model.job} (${model.bucket}/${model.name})`))),
      prepare(spec)
    ])
    // One batch per turn of the event loop: batches waiting on the same load resume together, and
    // computed back to back they would hold off heartbeats and leases (a busy worker would look dead).
    await nextTurn()
    // Loading can take a while; a batch no longer wanted is not computed.
    if (context.signal.aborted) throw context.signal.reason
    try {
      return predictBatch(shapeOf(spec.trained), targetOf(spec.trained), params, data, from, to, spec.labeled, classesOf(spec.trained))
    } catch (error) {
      // A model or data that does not fit the spec, or a label that is no class: another try cannot help.
      return refuse(`job ${context.jobId} rows [${from}, ${to}): ${error instanceof Error ? error.message : String(error)}`)
    }
  }
}
