// Training job specs. A request (`train model=softmax|epochs=5|...` or a JSON object) names its data by
// reference; the producer reads and uploads the data, then submits the *resolved* spec, which names each
// data set by Object Store name and digest and fixes every default. Both forms are Schemas.
import { Schema } from "./schema.ts"
import { BadSpec } from "./errors.ts"
import { describeIssue } from "./schema-issue.ts"

export const MODEL_KINDS = ["linreg", "logreg", "softmax", "mlp"] as const
export type ModelKind = (typeof MODEL_KINDS)[number]
export const TRAINING_MODES = ["sync", "async", "avg"] as const
export type TrainingMode = (typeof TRAINING_MODES)[number]
export const NORMALIZATIONS = ["none", "max", "minmax", "zscore"] as const
/** The Java predecessor's job type: the only `type=` a training line may name. */
export const TRAIN_JOB_TYPE = "TrainGdBatchJob"
/** `normalize=<number>` (the predecessor's form): every feature divided by it. */
const Divisor = Schema.Number.check(Schema.isFinite(), Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1e12))
/** How features are scaled: a named normalizer fitted on the training rows, or a fixed divisor. */
export const Normalize = Schema.Union([Schema.Literals(NORMALIZATIONS), Divisor])
export type Normalize = typeof Normalize.Type

/** Parameters travel as one message (the server's default max payload is 1 MB): Float32, 4 bytes each. */
export const MAX_PARAMETERS = 250_000
export const MAX_SHARES = 64

const int = (min: number, max: number) => Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max }))
const positive = (max: number) => Schema.Number.check(Schema.isFinite(), Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(max))
const nonNegative = (max: number) => Schema.Number.check(Schema.isFinite(), Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(max))

/** What a user may ask for. Every key optional; unknown keys are refused by name. */
export const TrainRequest = Schema.Struct({
  kind: Schema.Literal("train"),
  model: Schema.optionalKey(Schema.Literals(MODEL_KINDS)),
  /** `multiclass`, `regression` or `binary_is_<label>` (a digit word like `zero` or an integer). */
  task: Schema.optionalKey(Schema.String),
  data: Schema.optionalKey(Schema.String),
  test: Schema.optionalKey(Schema.String),
  /** Use only the first N training rows. */
  samples: Schema.optionalKey(int(1, 100_000_000)),
  /** A check: the data must have this many feature columns. */
  features: Schema.optionalKey(int(1, 1_000_000)),
  /** Classes of a multiclass model (default: the largest label + 1). */
  classes: Schema.optionalKey(int(2, 10_000)),
  hidden: Schema.optionalKey(int(1, 4096)),
  epochs: Schema.optionalKey(int(1, 100_000)),
  batchSize: Schema.optionalKey(int(1, 1_000_000)),
  lr: Schema.optionalKey(positive(1000)),
  /** Learning rate multiplier per epoch (1: constant). */
  lrDecay: Schema.optionalKey(positive(1)),
  seed: Schema.optionalKey(int(0, 2 ** 31 - 1)),
  mode: Schema.optionalKey(Schema.Literals(TRAINING_MODES)),
  /** Shares of the work: one long-lived task each, held by a worker slot. */
  workers: Schema.optionalKey(int(1, MAX_SHARES)),
  /** Sync mode: apply the first (workers - backup) gradients of a step and drop the stragglers. */
  backup: Schema.optionalKey(int(0, MAX_SHARES - 1)),
  /** Async mode: a gradient computed on weights more than this many versions old is dropped. */
  staleness: Schema.optionalKey(int(0, 1_000_000)),
  /** Avg mode: local passes over each worker's shard per round. */
  localEpochs: Schema.optionalKey(int(1, 10_000)),
  init: Schema.optionalKey(Schema.Literals(["zeros", "random", "weights"])),
  /** Initial weights inline (comma-separated), with init=weights. */
  w: Schema.optionalKey(Schema.String),
  /** Initial weights from a file (a weights CSV written by dtq, or one number per line), with init=weights. */
  wFile: Schema.optionalKey(Schema.String),
  /** Early stopping: epochs without improvement of the monitored loss by minDelta (0: off). */
  patience: Schema.optionalKey(int(0, 100_000)),
  minDelta: Schema.optionalKey(nonNegative(1e9)),
  /** none | max | minmax | zscore, a number (divide every feature by it; 1 is none), or true (minmax) / false (none). */
  normalize: Schema.optionalKey(Schema.Union([Schema.Literals(NORMALIZATIONS), Divisor, Schema.Boolean])),
  hasHeader: Schema.optionalKey(Schema.Boolean),
  csvLabel: Schema.optionalKey(Schema.Literals(["first", "last"])),
  name: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(200))),
  priority: Schema.optionalKey(Schema.Union([int(-100, 100), Schema.Literals(["low", "normal", "high"])])),
  maxAttempts: Schema.optionalKey(int(1, 100)),
  /** Where the tasks go: least-loaded (default), random or round-robin. */
  placement: Schema.optionalKey(Schema.Literals(["least-loaded", "random", "round-robin"])),
  /** The Java predecessor's job type; only TrainGdBatchJob is a training job. */
  type: Schema.optionalKey(Schema.Literal(TRAIN_JOB_TYPE))
})
export type TrainRequest = typeof TrainRequest.Type

/** Request keys whose values are numbers or booleans: `k=v` text is converted before decoding. */
const NUMERIC_KEYS = new Set(["samples", "features", "classes", "hidden", "epochs", "batchSize", "lr", "lrDecay", "seed", "workers", "backup", "staleness", "localEpochs", "patience", "minDelta", "maxAttempts"])
const BOOLEAN_KEYS = new Set(["hasHeader"])
/** Alternative spellings accepted in `k=v` form (the predecessors' names). */
const ALIASES: Record<string, string> = { dataRef: "data", testRef: "test", batch: "batchSize", batch_size: "batchSize", learningRate: "lr", shares: "workers", labels: "csvLabel" }

/** The key a user wrote for a request key (`data` was `dataRef` in the predecessor's lines): errors name what was typed. */
export const writtenKey = (pairs: Record<string, string>, key: string): string =>
  Object.keys(pairs).find((k) => (ALIASES[k] ?? k) === key) ?? key

export const TRAIN_KEYS: ReadonlyArray<string> = Object.keys(TrainRequest.fields).filter((k) => k !== "kind")

const decodeRequest = Schema.decodeUnknownResult(TrainRequest, { onExcessProperty: "error" })

const fail = (field: string, message: string): never => {
  throw new BadSpec({ field, message })
}

/** `k=v` pairs (from the command line or the prompt) as a request object; values keep their text until decoded. */
export const trainRequestFromPairs = (pairs: Record<string, string>): Record<string, unknown> => {
  const out: Record<string, unknown> = { kind: "train" }
  for (const [rawKey, text] of Object.entries(pairs)) {
    const key = ALIASES[rawKey] ?? rawKey
    if (!TRAIN_KEYS.includes(key)) fail(rawKey, `unknown training option (known: ${TRAIN_KEYS.join(", ")}, jobId)`)
    if (key === "type" && text !== TRAIN_JOB_TYPE) fail("type", `${JSON.stringify(text)} is not a training job type: train accepts type=${TRAIN_JOB_TYPE} (or no type)`)
    if (key === "normalize" && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text.trim())) {
      out[key] = Number(text)
    } else if (key === "priority") {
      out[key] = priorityWord(text)
    } else if (NUMERIC_KEYS.has(key)) {
      const value = Number(text)
      if (text.trim() === "" || !Number.isFinite(value)) fail(key, `${JSON.stringify(text)} is not a number`)
      out[key] = value
    } else if (BOOLEAN_KEYS.has(key) || (key === "normalize" && /^(true|false)$/.test(text))) {
      if (!/^(true|false)$/.test(text)) fail(key, `${JSON.stringify(text)} is not true or false`)
      out[key] = text === "true"
    } else out[key] = text
  }
  return out
}

/**
 * A priority as text: an integer, or a word of dtq (low, normal, high) or of the Python runner
 * (LOW, MEDIUM, HIGH), in any case; anything else stays text for the Schema to refuse by name.
 */
export const priorityWord = (text: string): number | string => {
  if (/^[+-]?\d+$/.test(text.trim())) return Number(text)
  const word = text.trim().toLowerCase()
  return word === "medium" ? "normal" : word
}

/** Validates a request (object form); throws BadSpec naming the key. */
export const decodeTrainRequest = (input: unknown): TrainRequest => {
  if (typeof input === "object" && input !== null) {
    for (const key of Object.keys(input)) if (key !== "kind" && !TRAIN_KEYS.includes(key)) fail(key, `unknown training option (known: ${TRAIN_KEYS.join(", ")})`)
    const type = (input as Record<string, unknown>).type
    if (type !== undefined && type !== TRAIN_JOB_TYPE) fail("type", `${JSON.stringify(type)} is not a training job type: train accepts type=${TRAIN_JOB_TYPE} (or no type)`)
  }
  const decoded = decodeRequest(input)
  if (decoded._tag === "Failure") {
    const line = describeIssue(decoded.failure, input)
    const colon = line.indexOf(": ")
    return colon > 0 ? fail(line.slice(0, colon), line.slice(colon + 2)) : fail("", line)
  }
  const request = decoded.success
  if (request.backup !== undefined && request.backup >= (request.workers ?? DEFAULT_TRAINING.workers)) {
    fail("backup", `must be less than workers (${request.workers ?? DEFAULT_TRAINING.workers}): at least one gradient per step is applied`)
  }
  if (request.init === "weights" && request.w === undefined && request.wFile === undefined) fail("init", "init=weights needs w=... or wFile=...")
  if (request.init !== undefined && request.init !== "weights" && (request.w !== undefined || request.wFile !== undefined)) {
    fail(request.w !== undefined ? "w" : "wFile", `initial weights need init=weights (init is ${request.init})`)
  }
  if (request.task !== undefined) parseTarget(request.task, request.model ?? DEFAULT_TRAINING.model)
  return request
}

// ---- targets ----
const DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

export const Target = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("regression") }),
  Schema.Struct({ kind: Schema.Literal("binary"), positive: Schema.Int }),
  Schema.Struct({ kind: Schema.Literal("multiclass"), classes: int(2, 10_000) })
])
export type Target = typeof Target.Type

/** What a model learns, from `task=` and the model kind (classes of a multiclass task come from the data). */
export const parseTarget = (task: string, model: ModelKind): { kind: "regression" } | { kind: "binary"; positive: number } | { kind: "multiclass" } => {
  const binary = /^binary_is_(.+)$/.exec(task)
  const expected: Record<ModelKind, string> = { linreg: "regression (or demo)", logreg: "binary_is_<label>", softmax: "multiclass", mlp: "multiclass" }
  if (binary !== null) {
    if (model !== "logreg") fail("task", `${task} is for model=logreg; model=${model} learns ${expected[model]}`)
    const word = binary[1] as string
    const positive = DIGIT_WORDS.indexOf(word) >= 0 ? DIGIT_WORDS.indexOf(word) : /^\d+$/.test(word) ? Number(word) : -1
    if (positive < 0) fail("task", `${JSON.stringify(word)} is not a label: use a digit word (zero..nine) or an integer, e.g. binary_is_zero`)
    return { kind: "binary", positive }
  }
  if (task === "multiclass" && (model === "softmax" || model === "mlp")) return { kind: "multiclass" }
  // `demo`: the predecessor's linreg baseline, a regression on the raw labels.
  if ((task === "regression" || task === "demo") && model === "linreg") return { kind: "regression" }
  return fail("task", `${JSON.stringify(task)} does not fit model=${model}, which learns ${expected[model]}`)
}

export const defaultTask = (model: ModelKind): string =>
  model === "linreg" ? "regression" : model === "logreg" ? "binary_is_zero" : "multiclass"

/** Defaults (docs/training.md) for every model. */
export const DEFAULT_TRAINING = {
  model: "softmax" as ModelKind,
  seed: 42,
  mode: "sync" as TrainingMode,
  workers: 2,
  backup: 0,
  staleness: 4,
  localEpochs: 1,
  patience: 0,
  minDelta: 0,
  maxAttempts: 5
}

/**
 * Per-model defaults, measured on the shipped MNIST subset (docs/training.md): few steps to good accuracy,
 * since every step costs a round trip through the cluster.
 */
export const MODEL_DEFAULTS: Record<ModelKind, { epochs: number; batchSize: number; lr: number; lrDecay: number; hidden: number }> = {
  linreg: { epochs: 5, batchSize: 128, lr: 0.01, lrDecay: 1, hidden: 0 },
  logreg: { epochs: 1, batchSize: 128, lr: 1, lrDecay: 1, hidden: 0 },
  softmax: { epochs: 8, batchSize: 256, lr: 1, lrDecay: 0.7, hidden: 0 },
  mlp: { epochs: 10, batchSize: 64, lr: 0.5, lrDecay: 0.9, hidden: 128 }
}

// ---- the resolved spec (stored in JobSubmitted) ----
const Digest = Schema.String.check(Schema.isPattern(/^sha256-[0-9a-f]{64}$/, { expected: "sha256-<64 hex digits>" }))
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** A data set in the Object Store: encoded rows (dtq's binary form), by name and digest. */
export const DataRef = Schema.Struct({
  name: Schema.String,
  digest: Digest,
  bytes: Count,
  rows: Count,
  features: Count,
  /** Where it came from (file names), for people. */
  source: Schema.String
})
export type DataRef = typeof DataRef.Type

/** A tensor (Float32, little-endian) outside the log, by digest. */
export const TensorRef = Schema.Struct({ digest: Digest, bytes: Count })
export type TensorRef = typeof TensorRef.Type

/** The training part of a resolved train spec (job-spec.ts adds the name, schedule and policy fields). */
export const ResolvedTrainFields = {
  kind: Schema.Literal("train"),
  model: Schema.Literals(MODEL_KINDS),
  task: Schema.String,
  target: Target,
  data: DataRef,
  test: Schema.optionalKey(DataRef),
  samples: int(1, 100_000_000),
  /** `samples=` asked for more rows than the data has: what was asked (the job trains on all `samples` rows). */
  samplesRequested: Schema.optionalKey(int(1, 100_000_000)),
  /** The data options the rows were read with: an inference job over other files defaults to them. */
  csvLabel: Schema.optionalKey(Schema.Literals(["first", "last"])),
  hasHeader: Schema.optionalKey(Schema.Boolean),
  features: int(1, 1_000_000),
  outputs: int(1, 10_000),
  hidden: Count,
  parameters: int(1, MAX_PARAMETERS),
  normalize: Normalize,
  epochs: int(1, 100_000),
  batchSize: int(1, 1_000_000),
  lr: Schema.Number,
  lrDecay: Schema.Number,
  seed: Count,
  mode: Schema.Literals(TRAINING_MODES),
  backup: Count,
  staleness: Count,
  localEpochs: int(1, 10_000),
  init: Schema.Literals(["zeros", "random", "weights"]),
  /** init=weights: the starting parameters, published before submission. */
  initTensor: Schema.optionalKey(TensorRef),
  /** A warm start (`dtq resume`): the job whose weights this one starts from. */
  resumedFrom: Schema.optionalKey(Schema.String),
  patience: Count,
  minDelta: Schema.Number,
  /** Shares: one task each. */
  tasks: int(1, MAX_SHARES)
}
const TrainOnly = Schema.Struct(ResolvedTrainFields)
/** The training fields of a resolved spec (what training code needs; the job's policy lives beside them). */
export type TrainingSpec = typeof TrainOnly.Type

/** Mini-batch steps per epoch in sync and async modes. */
export const stepsPerEpoch = (spec: { samples: number; batchSize: number }): number => Math.ceil(spec.samples / spec.batchSize)

/** Model versions a whole training makes: one per step (sync, async) or per round (avg). */
export const totalVersions = (spec: Pick<TrainingSpec, "mode" | "epochs" | "samples" | "batchSize">): number =>
  spec.mode === "avg" ? spec.epochs : spec.epochs * stepsPerEpoch(spec)

/** Parameters of a model shape (the layout is in src/training/models.ts). */
export const parameterCount = (model: ModelKind, features: number, outputs: number, hidden: number): number =>
  model === "mlp" ? hidden * features + hidden + outputs * hidden + outputs : outputs * features + outputs

/** Checks a resolved spec's internal consistency (the Schema checks each field alone). */
export const trainSpecProblem = (spec: TrainingSpec): { field: string; message: string } | undefined => {
  if (spec.samples > spec.data.rows) return { field: "samples", message: `is ${spec.samples}, but the data has ${spec.data.rows} rows` }
  if (spec.features !== spec.data.features) return { field: "features", message: `is ${spec.features}, but the data has ${spec.data.features} feature columns` }
  if (spec.test !== undefined && spec.test.features !== spec.features) {
    return { field: "test", message: `has ${spec.test.features} feature columns; the training data has ${spec.features}` }
  }
  const expected = parameterCount(spec.model, spec.features, spec.outputs, spec.hidden)
  if (spec.parameters !== expected) return { field: "parameters", message: `is ${spec.parameters}, but model=${spec.model} of this shape has ${expected}` }
  if (spec.backup >= spec.tasks) return { field: "backup", message: `must be less than the number of shares (${spec.tasks})` }
  if (spec.init === "weights" && spec.initTensor === undefined) return { field: "initTensor", message: "init=weights needs the initial weights" }
  if (spec.initTensor !== undefined && spec.initTensor.bytes !== spec.parameters * 4) {
    return { field: "initTensor", message: `has ${spec.initTensor.bytes / 4} parameters; the model has ${spec.parameters}` }
  }
  return undefined
}
