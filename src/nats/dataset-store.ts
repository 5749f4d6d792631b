// Data sets in the JetStream Object Store, named by the digest of their encoded bytes: uploaded once
// (a second upload of the same data finds it there), fetched and cached by digest, so workers need no
// shared file system and never parse the CSV again.
import { Objm, type ObjectStore } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"
import type { Dataset } from "../data/dataset.ts"
import { datasetDigest, decodeDataset, encodeDataset } from "../data/dataset-codec.ts"
import type { DataRef } from "../domain/train-spec.ts"

export const DATASET_BUCKET = "dtq-datasets"

/** A data set that cannot be fetched or does not match its digest. */
export class DatasetUnavailable extends Error {}

const CACHED = 4

export class DatasetStore {
  readonly #store: ObjectStore
  readonly #cache = new Map<string, Promise<Dataset>>() // digest -> decoded data, oldest first

  private constructor(store: ObjectStore) {
    this.#store = store
  }

  static async open(nc: NatsConnection, options: { replicas?: number } = {}): Promise<DatasetStore> {
    return new DatasetStore(await new Objm(nc).create(DATASET_BUCKET, { replicas: options.replicas ?? 1 }))
  }

  /** Uploads a data set unless the same bytes are there already; returns its reference. */
  async put(data: Dataset, source: string): Promise<DataRef> {
    const bytes = encodeDataset(data)
    const digest = datasetDigest(bytes)
    const existing = await this.#store.info(digest).catch(() => null)
    if (existing === null || existing.deleted || existing.size !== bytes.byteLength) {
      await this.#store.putBlob({ name: digest, description: source.slice(0, 200), metadata: { rows: String(data.rows), features: String(data.features) } }, bytes)
    }
    this.#cache.set(digest, Promise.resolve(data))
    return { name: digest, digest, bytes: bytes.byteLength, rows: data.rows, features: data.features, source }
  }

  /** A data set stored under an object name (uploaded by dtq, or raw bytes put there with `nats obj put`). */
  async raw(name: string): Promise<Uint8Array | null> {
    return this.#store.getBlob(name)
  }

  async get(ref: DataRef): Promise<Dataset> {
    let data = this.#cache.get(ref.digest)
    if (data === undefined) {
      data = this.#fetch(ref)
      this.#cache.set(ref.digest, data)
      data.catch(() => this.#cache.delete(ref.digest))
      while (this.#cache.size > CACHED) this.#cache.delete(this.#cache.keys().next().value as string)
    }
    return data
  }

  async #fetch(ref: DataRef): Promise<Dataset> {
    const bytes = await this.#store.getBlob(ref.name).catch((error: Error) => {
      throw new DatasetUnavailable(`data set ${ref.name} (${ref.source}): ${error.message}`)
    })
    if (bytes === null) throw new DatasetUnavailable(`data set ${ref.name} (${ref.source}) is not in the ${DATASET_BUCKET} bucket`)
    if (bytes.byteLength !== ref.bytes || datasetDigest(bytes) !== ref.digest) {
      throw new DatasetUnavailable(`data set ${ref.name} (${ref.source}) does not match its digest ${ref.digest}`)
    }
    return decodeDataset(bytes, ref.source)
  }
}
