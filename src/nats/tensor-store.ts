// Tensors outside the log: model versions and gradients as raw little-endian Float32 bytes in the side
// stream DTQ_TENSORS, one message each, on `dtq.tensor.<jobId>.<m|g|b>.<digest>` (m: a model version,
// g: a gradient or delta, b: the best model so far). Events carry the digest; readers verify it.
// Publishing also delivers to plain subscribers, so whoever watches a job's tensors has them in memory by
// the time the event that names them arrives; a direct get by subject is the fallback.
import { createHash } from "node:crypto"
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import type { NatsConnection, Subscription } from "@nats-io/transport-node"
import type { TensorRef } from "../domain/train-spec.ts"
import { retryPromise } from "./retry.ts"
import { openManager } from "./streams.ts"
import { StreamSetupError } from "./errors.ts"

export const TENSOR_STREAM = "DTQ_TENSORS"
export type TensorKind = "m" | "g" | "b"

export const tensorSubject = (jobId: string, kind: TensorKind, digest: string): string => `dtq.tensor.${jobId}.${kind}.${digest}`

const MAX_TENSOR_BYTES = 1024 * 1024
const CACHE_BYTES = 96 * 1024 * 1024
const RETRY = { times: 10, baseMs: 50, maxMs: 2000 } as const

/** A tensor that cannot be read, or whose bytes do not match its digest. */
export class TensorUnavailable extends Error {}

export const tensorDigest = (bytes: Uint8Array): string => `sha256-${createHash("sha256").update(bytes).digest("hex")}`

export const tensorBytes = (values: Float32Array): Uint8Array => new Uint8Array(values.buffer, values.byteOffset, values.byteLength)

/** A copy of the bytes as Float32 (copied: the message buffer may not be 4-byte aligned). */
export const tensorValues = (bytes: Uint8Array): Float32Array => {
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return new Float32Array(copy.buffer)
}

export class TensorStore {
  readonly #js: JetStreamClient
  readonly #jsm: JetStreamManager
  readonly #nc: NatsConnection
  readonly #cache = new Map<string, Float32Array>() // digest -> values, oldest first
  #cachedBytes = 0
  readonly #waiting = new Map<string, Array<(values: Float32Array) => void>>()
  readonly #subscriptions: Subscription[] = []

  private constructor(nc: NatsConnection, jsm: JetStreamManager) {
    this.#nc = nc
    this.#jsm = jsm
    this.#js = jetstream(nc, { timeout: 5000 })
  }

  static async open(nc: NatsConnection, options: { replicas?: number } = {}): Promise<TensorStore> {
    const jsm = await openManager(nc)
    await ensureTensorStream(jsm, options.replicas ?? 1)
    return new TensorStore(nc, jsm)
  }

  /** Keeps every tensor published on `subject` (a wildcard) in memory as it flies by. */
  watch(subject: string): Subscription {
    const sub = this.#nc.subscribe(subject, {
      callback: (_error, msg) => {
        const digest = msg.subject.slice(msg.subject.lastIndexOf(".") + 1)
        if (this.#cache.has(digest) || tensorDigest(msg.data) !== digest) return
        this.#remember(digest, tensorValues(msg.data))
      }
    })
    this.#subscriptions.push(sub)
    return sub
  }

  /**
   * Stores a tensor durably; resolves with its reference. A retried publish is stored once. A model (m, b)
   * is also kept in memory, by reference: the caller must not change `values` afterwards. A gradient is
   * not (its sender reuses the buffer; the coordinator has it from its subscription).
   */
  async put(jobId: string, kind: TensorKind, values: Float32Array): Promise<TensorRef> {
    const bytes = tensorBytes(values)
    if (bytes.byteLength > MAX_TENSOR_BYTES) {
      throw new TensorUnavailable(`a tensor of ${bytes.byteLength} bytes is over the ${MAX_TENSOR_BYTES}-byte message limit`)
    }
    const digest = tensorDigest(bytes)
    if (kind !== "g") this.#remember(digest, values)
    const subject = tensorSubject(jobId, kind, digest)
    await retryPromise(() => this.#js.publish(subject, bytes, { msgID: `${jobId}.${kind}.${digest}` }), RETRY)
    return { digest, bytes: bytes.byteLength }
  }

  /** The tensor's values: from memory, from a publish in flight, or read from the stream. */
  async get(jobId: string, kind: TensorKind, ref: TensorRef, waitMs = 200): Promise<Float32Array> {
    const cached = this.#cache.get(ref.digest)
    if (cached !== undefined) return cached
    // It may be on its way to our subscription: wait briefly before asking the stream.
    if (waitMs > 0) {
      const arrived = await new Promise<Float32Array | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), waitMs)
        const list = this.#waiting.get(ref.digest) ?? []
        list.push((values) => {
          clearTimeout(timer)
          resolve(values)
        })
        this.#waiting.set(ref.digest, list)
      })
      if (arrived !== undefined) return arrived
    }
    const subject = tensorSubject(jobId, kind, ref.digest)
    const msg = await retryPromise(
      () => this.#jsm.direct.getMessage(TENSOR_STREAM, { last_by_subj: subject }).catch((error: Error) => {
        if (/no message found|not found/i.test(error.message)) return null
        throw error
      }),
      RETRY
    )
    if (msg === null) throw new TensorUnavailable(`tensor ${ref.digest} of job ${jobId} is not in ${TENSOR_STREAM} (purged, or never stored)`)
    if (msg.data.byteLength !== ref.bytes || tensorDigest(msg.data) !== ref.digest) {
      throw new TensorUnavailable(`tensor ${subject} does not match its digest`)
    }
    const values = tensorValues(msg.data)
    this.#remember(ref.digest, values)
    return values
  }

  /** Drops a job's older tensors of one kind, keeping the newest `keep`. */
  async prune(jobId: string, kind: TensorKind, keep: number): Promise<void> {
    await this.#jsm.streams.purge(TENSOR_STREAM, { filter: `dtq.tensor.${jobId}.${kind}.>`, keep })
  }

  /** Drops every tensor of a job (its model is saved elsewhere). */
  async purgeJob(jobId: string): Promise<void> {
    await this.#jsm.streams.purge(TENSOR_STREAM, { filter: `dtq.tensor.${jobId}.>` })
  }

  #remember(digest: string, values: Float32Array): void {
    if (!this.#cache.has(digest)) {
      this.#cache.set(digest, values)
      this.#cachedBytes += values.byteLength
      for (const [old, v] of this.#cache) {
        if (this.#cachedBytes <= CACHE_BYTES) break
        this.#cache.delete(old)
        this.#cachedBytes -= v.byteLength
      }
    }
    const waiters = this.#waiting.get(digest)
    if (waiters !== undefined) {
      this.#waiting.delete(digest)
      for (const wake of waiters) wake(values)
    }
  }

  close(): void {
    for (const sub of this.#subscriptions.splice(0)) sub.unsubscribe()
  }
}

const ensureTensorStream = async (jsm: JetStreamManager, replicas: number): Promise<void> => {
  const existing = await jsm.streams.info(TENSOR_STREAM).catch(() => undefined)
  if (existing !== undefined) return
  try {
    await jsm.streams.add({
      name: TENSOR_STREAM,
      subjects: ["dtq.tensor.>"],
      storage: "file" as never,
      retention: "limits" as never,
      discard: "old" as never,
      // Transient: gradients and model versions in flight. A finished model goes to the Object Store.
      max_bytes: 1024 * 1024 * 1024,
      max_age: 7 * 24 * 3600 * 1_000_000_000,
      max_msg_size: MAX_TENSOR_BYTES + 4096,
      duplicate_window: 2 * 60 * 1_000_000_000,
      num_replicas: replicas,
      allow_direct: true
    })
  } catch (error) {
    if (!/already in use|exists/i.test((error as Error).message)) {
      throw new StreamSetupError({ detail: `cannot create stream ${TENSOR_STREAM}: ${(error as Error).message}` })
    }
  }
}
