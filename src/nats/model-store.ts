// Trained models in the JetStream Object Store: the final weights of a training job (raw little-endian
// Float32), named after the job, with the model's shape in the metadata. Inference and warm starts read them.
import { Objm, type ObjectStore } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"
import { tensorBytes, tensorDigest, tensorValues } from "./tensor-store.ts"

export const MODEL_BUCKET = "dtq-models"

export type StoredModel = { readonly bucket: string; readonly name: string; readonly digest: string; readonly bytes: number }

export class ModelUnavailable extends Error {}

export class ModelStore {
  readonly #store: ObjectStore

  private constructor(store: ObjectStore) {
    this.#store = store
  }

  static async open(nc: NatsConnection, options: { replicas?: number } = {}): Promise<ModelStore> {
    return new ModelStore(await new Objm(nc).create(MODEL_BUCKET, { replicas: options.replicas ?? 1 }))
  }

  async put(name: string, values: Float32Array, metadata: Record<string, string>): Promise<StoredModel> {
    const bytes = tensorBytes(values)
    const digest = tensorDigest(bytes)
    await this.#store.putBlob({ name, metadata: { ...metadata, digest } }, bytes)
    return { bucket: MODEL_BUCKET, name, digest, bytes: bytes.byteLength }
  }

  /** A stored model's weights, checked against the digest when one is given. */
  async get(name: string, digest?: string): Promise<Float32Array> {
    const bytes = await this.#store.getBlob(name).catch((error: Error) => {
      throw new ModelUnavailable(`model ${name}: ${error.message}`)
    })
    if (bytes === null) throw new ModelUnavailable(`no model named ${name} in the ${MODEL_BUCKET} bucket (is the job a finished training job?)`)
    if (digest !== undefined && tensorDigest(bytes) !== digest) throw new ModelUnavailable(`model ${name} does not match its digest ${digest}`)
    return tensorValues(bytes)
  }
}
