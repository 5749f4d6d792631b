// An inference job's predictions in the JetStream Object Store: text, one prediction per line in the
// order of the input rows (a header line first), named after the job. Readable with any object tool.
import { createHash } from "node:crypto"
import { Objm, type ObjectStore } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"

export const PREDICTION_BUCKET = "dtq-predictions"
const HEADER = "prediction"

export type StoredPredictions = { readonly bucket: string; readonly name: string; readonly digest: string; readonly bytes: number; readonly rows: number }

export class PredictionsUnavailable extends Error {}

export const encodePredictions = (predictions: ReadonlyArray<number>): Uint8Array => {
  const lines = new Array<string>(predictions.length + 1)
  lines[0] = HEADER
  for (let i = 0; i < predictions.length; i++) lines[i + 1] = String(predictions[i])
  return new TextEncoder().encode(lines.join("\n") + "\n")
}

export const decodePredictions = (bytes: Uint8Array, name: string): number[] => {
  const lines = new TextDecoder().decode(bytes).split("\n")
  if (lines[0] !== HEADER) throw new PredictionsUnavailable(`${name} is not a predictions file (its first line is not "${HEADER}")`)
  const out: number[] = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string
    if (line === "") continue
    const value = Number(line)
    if (!Number.isFinite(value)) throw new PredictionsUnavailable(`${name} line ${i + 1}: ${JSON.stringify(line.slice(0, 40))} is not a number`)
    out.push(value)
  }
  return out
}

const digestOf = (bytes: Uint8Array): string => `sha256-${createHash("sha256").update(bytes).digest("hex")}`

export class PredictionStore {
  readonly #store: ObjectStore

  private constructor(store: ObjectStore) {
    this.#store = store
  }

  static async open(nc: NatsConnection, options: { replicas?: number } = {}): Promise<PredictionStore> {
    return new PredictionStore(await new Objm(nc).create(PREDICTION_BUCKET, { replicas: options.replicas ?? 1 }))
  }

  async put(name: string, predictions: ReadonlyArray<number>): Promise<StoredPredictions> {
    const bytes = encodePredictions(predictions)
    const digest = digestOf(bytes)
    await this.#store.putBlob({ name, metadata: { digest, rows: String(predictions.length) } }, bytes)
    return { bucket: PREDICTION_BUCKET, name, digest, bytes: bytes.byteLength, rows: predictions.length }
  }

  /** A job's predictions, checked against the digest its PredictionsStored event recorded. */
  async get(name: string, digest?: string): Promise<number[]> {
    const bytes = await this.#store.getBlob(name).catch((error: Error) => {
      throw new PredictionsUnavailable(`predictions ${name}: ${error.message}`)
    })
    if (bytes === null) throw new PredictionsUnavailable(`no predictions named ${name} in the ${PREDICTION_BUCKET} bucket`)
    if (digest !== undefined && digestOf(bytes) !== digest) throw new PredictionsUnavailable(`predictions ${name} do not match their digest ${digest}`)
    return decodePredictions(bytes, name)
  }
}
