// A log fixture: the raw messages of a real cluster's event stream, exported as JSON lines (one stored
// message a line: seq, subject, headers, data as its UTF-8 text, the stored timestamp as RFC 3339 with
// nanoseconds and as ms), and the job outcomes it must replay to. Recorded by scripts/record-log-fixture.ts;
// read here so that every later release's decode + fold can be checked against it.
import { readFileSync } from "node:fs"
import type { ClusterState } from "../../src/projections/state.ts"

export type FixtureMessage = {
  readonly seq: number
  readonly subject: string
  readonly headers: Readonly<Record<string, string[]>>
  /** The payload exactly as stored (events are UTF-8 JSON). */
  readonly data: string
  /** The stream's stored timestamp, RFC 3339 with nanoseconds as the server gave it. */
  readonly timestamp: string
  /** The same timestamp in ms since the epoch (what EventLog's RawEvent.time carries). */
  readonly time: number
}

/** A message as the readers of the log see it (EventLog's RawEvent, plus its headers). */
export type FixtureRawEvent = {
  readonly seq: number
  readonly subject: string
  readonly data: Uint8Array
  readonly time: number
  readonly headers: Readonly<Record<string, string[]>>
}

export const readFixture = (path: string): FixtureRawEvent[] => {
  const encoder = new TextEncoder()
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, i) => {
      const m = JSON.parse(line) as FixtureMessage
      if (typeof m.seq !== "number" || typeof m.subject !== "string" || typeof m.data !== "string") {
        throw new Error(`${path}:${i + 1} is not a fixture message (seq, subject, data)`)
      }
      return { seq: m.seq, subject: m.subject, data: encoder.encode(m.data), time: m.time, headers: m.headers }
    })
}

/** What a replay must agree on, per job, in submission order: fields every release keeps meaning the same. */
export type JobOutcome = {
  readonly jobId: string
  readonly kind: string
  readonly state: string
  readonly tasks: number
  readonly done: number
  readonly failures: number
  readonly result?: string
  readonly reason?: string
  readonly training?: { readonly version: number; readonly epochs: number; readonly model: string; readonly testAccuracy: number | null | undefined }
  readonly inference?: { readonly rows: number; readonly predictions: string; readonly accuracy: number | undefined }
}

export const jobOutcomes = (state: ClusterState): JobOutcome[] =>
  [...state.jobs.values()].map((job) => {
    const finished = job.training?.finished
    const stored = job.inference?.stored
    return {
      jobId: job.jobId,
      kind: job.spec.kind,
      state: job.phase,
      tasks: job.count,
      done: job.done,
      failures: job.failures,
      ...(job.result === undefined ? {} : { result: job.result }),
      ...(job.reason === undefined ? {} : { reason: job.reason }),
      ...(finished === undefined
        ? {}
        : { training: { version: finished.version, epochs: finished.epochs, model: finished.model.digest, testAccuracy: finished.testAccuracy } }),
      ...(stored === undefined
        ? {}
        : { inference: { rows: stored.predictions.rows, predictions: stored.predictions.digest, accuracy: stored.accuracy } })
    }
  })
