// An inference job's part of the state: how its rows are cut into batches (segments, changed by
// `set-batch-size`), the predictions of each batch (in JobState.outputs, by task), the running accuracy
// and confusion matrix, and where the predictions were stored once all batches are in.
import type { EventOf } from "../domain/events.ts"
import { batchRows, classesOf, type BatchResult, type BatchSegment, type InferenceSpec } from "../domain/infer-spec.ts"

export type InferenceState = {
  readonly segments: BatchSegment[]
  /** A `set-batch-size` waiting for the coordinator's decision. */
  batchSizeRequested: number | undefined
  rowsDone: number
  /** Labeled data: correct predictions and the confusion matrix so far (rows: truth, columns: predicted). */
  correct: number
  confusion: number[][] | undefined
  stored: Omit<EventOf<"PredictionsStored">, "type" | "id" | "v" | "ts" | "writer" | "epoch" | "jobId"> | undefined
}

export const newInferenceState = (spec: InferenceSpec): InferenceState => {
  const classes = spec.labeled ? classesOf(spec.trained) : undefined
  return {
    segments: [{ firstTask: 0, firstRow: 0, batchSize: spec.batchSize }],
    batchSizeRequested: undefined,
    rowsDone: 0,
    correct: 0,
    confusion: classes === undefined ? undefined : Array.from({ length: classes }, () => new Array<number>(classes).fill(0)),
    stored: undefined
  }
}

export const rowsOfTask = (spec: InferenceSpec, state: InferenceState, index: number): { from: number; to: number } =>
  batchRows(state.segments, spec.data.rows, index)

/** Adds an accepted batch result to the totals; the predictions themselves are kept by the caller. */
export const addBatch = (state: InferenceState, rows: { from: number; to: number }, result: BatchResult): void => {
  state.rowsDone += rows.to - rows.from
  state.correct += result.correct ?? 0
  const confusion = state.confusion
  if (confusion === undefined || result.confusion === undefined) return
  result.confusion.forEach((row, truth) => row.forEach((n, predicted) => {
    const target = confusion[truth]
    if (target !== undefined && predicted < target.length) target[predicted] = (target[predicted] ?? 0) + n
  }))
}

/** Why a batch-size change cannot apply, or undefined: it must start right after the last task ever leased. */
export const batchChangeProblem = (spec: InferenceSpec, state: InferenceState, event: EventOf<"BatchSizeChanged">, attempts: Uint8Array, count: number): string | undefined => {
  if (event.fromTask > count) return `from task ${event.fromTask}, but the job has ${count} tasks`
  for (let i = event.fromTask; i < count; i++) if ((attempts[i] ?? 0) !== 0) return `task ${i} was already leased`
  const expectedRow = event.fromTask === count ? spec.data.rows : rowsOfTask(spec, state, event.fromTask).from
  if (event.fromRow !== expectedRow) return `task ${event.fromTask} starts at row ${expectedRow}, not ${event.fromRow}`
  const expectedCount = event.fromTask + Math.ceil((spec.data.rows - event.fromRow) / event.batchSize)
  if (event.count !== expectedCount) return `${spec.data.rows - event.fromRow} rows from task ${event.fromTask} in batches of ${event.batchSize} make ${expectedCount} tasks, not ${event.count}`
  return undefined
}
