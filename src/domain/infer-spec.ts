// Batch inference job specs. A request (`infer model=JOB data=REF batchSize=N share=W`) names a finished
// training job and a data set; the producer reads and uploads the data and submits the *resolved* spec,
// which carries the model by Object Store name and digest and the training spec it came from (its data
// and normalizer are what inference must scale rows with). Tasks are batches of consecutive rows.
import { Schema } from "./schema.ts"
import { BadSpec } from "./errors.ts"
import { describeIssue } from "./schema-issue.ts"
import { DataRef, Normalize, ResolvedTrainFields, priorityWord } from "./train-spec.ts"

const int = (min: number, max: number) => Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max }))
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const DEFAULT_BATCH_SIZE = 100
export const MAX_BATCH_SIZE = 100_000
/** Fair-share weight bounds: a job's query rate is held in proportion to its share. */
export const MAX_SHARE = 1000

const Share = Schema.Number.check(Schema.isFinite(), Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(MAX_SHARE))

/** What a user may ask for; unknown keys are refused by name. */
export const InferRequest = Schema.Struct({
  kind: Schema.Literal("infer"),
  /** The finished training job whose model predicts. */
  model: Schema.String,
  /** Rows to predict: files (CSV, gzip), `file:` URLs, wildcards, or a dtq-datasets object. Default: the model's test set, else its training data. */
  data: Schema.optionalKey(Schema.String),
  batchSize: Schema.optionalKey(int(1, MAX_BATCH_SIZE)),
  share: Schema.optionalKey(Share),
  /**
   * Where the data's label column is (`first`, `last`), or `none` (every column a feature, no accuracy).
   * Default: the model's own (the csvLabel it was trained with), else first. `labels` is the older spelling.
   */
  csvLabel: Schema.optionalKey(Schema.Literals(["first", "last", "none"])),
  labels: Schema.optionalKey(Schema.Literals(["first", "last", "none"])),
  /** Whether the first row is a header. Default: the model's own, else detected. */
  hasHeader: Schema.optionalKey(Schema.Boolean),
  /**
   * Accepted so that a training line's data options can be reused; rows are always scaled as the model's
   * training scaled them, so it must name the model's own normalization.
   */
  normalize: Schema.optionalKey(Schema.Union([Normalize, Schema.Boolean])),
  name: Schema.optionalKey(Schema.String),
  priority: Schema.optionalKey(Schema.Union([int(-100, 100), Schema.Literals(["low", "normal", "high"])])),
  maxAttempts: Schema.optionalKey(int(1, 100))
})
export type InferRequest = typeof InferRequest.Type

/** The trained model an inference job uses (where its weights are, and what it was trained on). */
export const InferModel = Schema.Struct({
  job: Schema.String,
  bucket: Schema.String,
  name: Schema.String,
  digest: Schema.String,
  bytes: Count
})

/** The inference part of a resolved spec (job-spec.ts adds the name, schedule and policy fields). */
export const ResolvedInferFields = {
  kind: Schema.Literal("infer"),
  model: InferModel,
  /** The model's training spec: shape, target, and the data its normalizer is fitted on. */
  trained: Schema.Struct(ResolvedTrainFields),
  data: DataRef,
  /** Whether the rows carry labels (then the result has accuracy and a confusion matrix). */
  labeled: Schema.Boolean,
  batchSize: int(1, MAX_BATCH_SIZE),
  share: Share,
  /** Batches at submission: ceil(rows / batchSize). */
  tasks: int(1, 1_000_000)
}
const InferOnly = Schema.Struct(ResolvedInferFields)
export type InferenceSpec = typeof InferOnly.Type

/** A stretch of batches of one size: tasks from `firstTask` cover rows from `firstRow`, `batchSize` at a time. */
export type BatchSegment = { readonly firstTask: number; readonly firstRow: number; readonly batchSize: number }

/** The rows of task `index` ([from, to)) under a job's segments (the first one starts at task 0, row 0). */
export const batchRows = (segments: ReadonlyArray<BatchSegment>, rows: number, index: number): { from: number; to: number } => {
  let segment = segments[0] as BatchSegment
  for (const s of segments) if (s.firstTask <= index) segment = s
  const from = segment.firstRow + (index - segment.firstTask) * segment.batchSize
  return { from, to: Math.min(rows, from + segment.batchSize) }
}

/** Tasks of a job whose batches change size at `firstTask` (starting at `firstRow`). */
export const batchCount = (rows: number, firstTask: number, firstRow: number, batchSize: number): number =>
  firstTask + Math.ceil((rows - firstRow) / batchSize)

/** What a batch's worker returns: a prediction per row, and when labeled, the hits and a confusion matrix. */
export const BatchResult = Schema.Struct({
  predictions: Schema.Array(Schema.Number),
  correct: Schema.optionalKey(Count),
  /** Rows: true class, columns: predicted. */
  confusion: Schema.optionalKey(Schema.Array(Schema.Array(Count)))
})
export type BatchResult = typeof BatchResult.Type

const decodeResult = Schema.decodeUnknownResult(BatchResult)

/** Why a batch result cannot be accepted for rows [from, to), or undefined when it can. */
export const batchResultProblem = (result: unknown, rows: { from: number; to: number }, classes: number | undefined): string | undefined => {
  const decoded = decodeResult(result)
  if (decoded._tag === "Failure") return `not a batch result (${describeIssue(decoded.failure, result)})`
  const r = decoded.success
  if (r.predictions.length !== rows.to - rows.from) return `${r.predictions.length} predictions for ${rows.to - rows.from} rows`
  if (r.correct !== undefined && r.correct > r.predictions.length) return `${r.correct} correct of ${r.predictions.length} rows`
  if (r.confusion !== undefined && classes !== undefined) {
    if (r.confusion.length !== classes || r.confusion.some((row) => row.length !== classes)) return `the confusion matrix is not ${classes}x${classes}`
  }
  return undefined
}

/** Classes a model predicts (a confusion matrix's size), undefined for regression. */
export const classesOf = (trained: InferenceSpec["trained"]): number | undefined =>
  trained.target.kind === "multiclass" ? trained.outputs : trained.target.kind === "regression" ? undefined : 2

export const decodeInferRequest = (input: unknown): InferRequest => {
  const decoded = Schema.decodeUnknownResult(InferRequest, { onExcessProperty: "error" })(input)
  if (decoded._tag === "Success") return decoded.success
  const line = describeIssue(decoded.failure, input)
  const colon = line.indexOf(": ")
  throw colon > 0 ? new BadSpec({ field: line.slice(0, colon), message: line.slice(colon + 2) }) : new BadSpec({ field: "", message: line })
}

const NUMBER_KEYS = new Set(["batchSize", "share", "maxAttempts"])
/** Training's spellings of the same things (one vocabulary across train, resume and infer). */
const INFER_ALIASES: Record<string, string> = { dataRef: "data", batch: "batchSize", batch_size: "batchSize" }

/** `k=v` pairs (the CLI and the prompt) as a request: numbers where numbers belong; validation names the key. */
export const inferRequestFromPairs = (pairs: Record<string, string>): InferRequest => {
  const request: Record<string, unknown> = { kind: "infer" }
  for (const [rawKey, text] of Object.entries(pairs)) {
    const key = INFER_ALIASES[rawKey] ?? rawKey
    if (key === "kind") continue
    if (key === "priority") request[key] = priorityWord(text)
    else if (key === "normalize") request[key] = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text.trim()) ? Number(text) : text === "true" ? true : text === "false" ? false : text
    else if (NUMBER_KEYS.has(key)) {
      const value = Number(text)
      if (text.trim() === "" || !Number.isFinite(value)) throw new BadSpec({ field: key, message: `${JSON.stringify(text)} is not a number` })
      request[key] = value
    } else if (key === "hasHeader") {
      if (text !== "true" && text !== "false") throw new BadSpec({ field: key, message: `${JSON.stringify(text)} is not true or false` })
      request[key] = text === "true"
    } else request[key] = text
  }
  return decodeInferRequest(request)
}
