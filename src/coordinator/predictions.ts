// Finishing an inference job: once every batch is in, the predictions (kept by the fold per batch) are
// written to the Object Store in input order, then recorded as PredictionsStored; the scheduler then
// completes the job. Off the scheduling path: one write per job at a time, retried on the next poll.
import type { ClusterState } from "../projections/state.ts"
import type { PredictionStore } from "../nats/prediction-store.ts"

export type PredictionsDraft = {
  readonly type: "PredictionsStored"
  readonly jobId: string
  readonly predictions: { bucket: string; name: string; digest: string; bytes: number; rows: number }
  readonly correct?: number
  readonly accuracy?: number
  readonly confusion?: ReadonlyArray<ReadonlyArray<number>>
}

export type PredictionDeps = {
  readonly store: () => Promise<PredictionStore>
  /** Appends a decision; false when this coordinator may not decide (not leading). */
  readonly decide: (draft: PredictionsDraft) => Promise<boolean>
  readonly say: (line: string) => void
}

export class PredictionWriter {
  readonly #deps: PredictionDeps
  readonly #busy = new Set<string>()

  constructor(deps: PredictionDeps) {
    this.#deps = deps
  }

  poll(state: ClusterState): void {
    for (const jobId of state.activeJobs) {
      const job = state.jobs.get(jobId)
      const inference = job?.inference
      if (job === undefined || inference === undefined || job.spec.kind !== "infer" || inference.stored !== undefined) continue
      if (job.phase !== "running" || job.done !== job.count || job.cancelRequested !== undefined || this.#busy.has(jobId)) continue
      const predictions = (job.outputs ?? []).flatMap((batch) => (Array.isArray(batch) ? (batch as number[]) : []))
      const rows = job.spec.data.rows
      if (predictions.length !== rows) {
        this.#deps.say(`inference ${jobId}: ${predictions.length} predictions for ${rows} rows; not stored`)
        continue
      }
      const labeled = job.spec.labeled
      const figures = labeled
        ? { correct: inference.correct, accuracy: inference.correct / rows, ...(inference.confusion === undefined ? {} : { confusion: inference.confusion.map((r) => [...r]) }) }
        : {}
      this.#busy.add(jobId)
      this.#deps
        .store()
        .then((store) => store.put(jobId, predictions))
        .then((stored) => this.#deps.decide({ type: "PredictionsStored", jobId, predictions: stored, ...figures }))
        .catch((error: Error) => this.#deps.say(`inference ${jobId}: could not store the predictions (${error.message}); will try again`))
        .finally(() => this.#busy.delete(jobId))
    }
  }
}
