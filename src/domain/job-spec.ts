// Job specs: what a producer may ask for, validated before anything enters the log.
// The spec stored in JobSubmitted is the *resolved* one (every default filled in), so a replay never
// depends on the defaults of the code that replays it.
import { Schema } from "./schema.ts"
import { BadSpec } from "./errors.ts"
import { describeIssue } from "./schema-issue.ts"
import { jsonByteLength, jsonProblem } from "./json.ts"
import { chunkOf, parseInteger, rangeLength } from "./range-sum.ts"
import { ResolvedTrainFields, trainSpecProblem } from "./train-spec.ts"
import { ResolvedInferFields, batchCount, batchRows, type BatchSegment } from "./infer-spec.ts"

export const MAX_TASKS_PER_JOB = 1_000_000
export const DEFAULT_SUM_TASKS = 100
/** A task job carries its inputs in JobSubmitted: they must fit in one event (bulk data goes to the Object Store). */
export const MAX_INPUT_BYTES = 768 * 1024
/** Priorities by name; any integer in [-100, 100] is accepted too. Higher runs first. */
export const PRIORITY_NAMES = { low: -1, normal: 0, high: 1 } as const

const boundedInt = (min: number, max: number) =>
  Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max }))

const IntegerText = Schema.String.check(
  Schema.isPattern(/^\s*[+-]?\d+\s*$/, { expected: "a decimal integer (digits with an optional sign)" })
)

/** Per-job fault-tolerance settings; each optional in a request, always present once resolved. */
export const PolicyFields = {
  maxAttempts: Schema.optionalKey(boundedInt(1, 100)),
  backoffMs: Schema.optionalKey(boundedInt(0, 3_600_000)),
  backoffMaxMs: Schema.optionalKey(boundedInt(0, 3_600_000)),
  leaseMs: Schema.optionalKey(boundedInt(100, 86_400_000)),
  stallMs: Schema.optionalKey(boundedInt(100, 86_400_000)),
  maxTaskMs: Schema.optionalKey(boundedInt(100, 7 * 86_400_000)),
  speculation: Schema.optionalKey(Schema.Boolean),
  speculationQuantile: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  speculationMultiplier: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 1, maximum: 100 }))),
  speculationMinMs: Schema.optionalKey(boundedInt(0, 86_400_000)),
  maxSpeculative: Schema.optionalKey(boundedInt(0, 10_000)),
  placement: Schema.optionalKey(Schema.Literals(["least-loaded", "random", "round-robin"]))
}

const Priority = Schema.Union([boundedInt(-100, 100), Schema.Literals(["low", "normal", "high"])])
const EpochMs = Schema.Number.check(Schema.isFinite(), Schema.isGreaterThanOrEqualTo(0))

/** When and in what order a job runs; each optional in a request. */
export const ScheduleFields = {
  /** Higher runs first under contention (an integer in [-100, 100], or low | normal | high). Default 0. */
  priority: Schema.optionalKey(Priority),
  /** A waiting job gains one priority level per `agingMs` without a lease, so none starves. Default 5000. */
  agingMs: Schema.optionalKey(boundedInt(1, 86_400_000)),
  /** Not before this time (ms since the epoch)... */
  runAt: Schema.optionalKey(EpochMs),
  /** ...or not before this long after submission. */
  delayMs: Schema.optionalKey(boundedInt(0, 366 * 86_400_000)),
  /** How long the finished job stays in the coordinator's live state (`dtq jobs`, `dtq job`). Default: the cluster's retention. */
  keepMs: Schema.optionalKey(boundedInt(0, 3650 * 86_400_000))
}

/** The resolved form of ScheduleFields, stored in the log (optional keys keep older specs readable). */
const ResolvedScheduleFields = {
  priority: Schema.optionalKey(Schema.Int),
  agingMs: Schema.optionalKey(Schema.Int),
  runAt: Schema.optionalKey(EpochMs),
  keepMs: Schema.optionalKey(Schema.Int)
}

export const DEFAULT_AGING_MS = 5000

/** A user-defined task's name: what workers advertise and the coordinator places by. */
export const TaskName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/, { expected: "a task name of 1-64 letters, digits, '_' or '-'" })
)
export const isTaskName = (name: string): boolean => /^[A-Za-z0-9_-]{1,64}$/.test(name)

/** Names of built-in job kinds: a user task may not take one (workers advertise kinds and tasks alike). */
export const RESERVED_TASK_NAMES: ReadonlySet<string> = new Set(["sum", "sumsq", "train", "infer", "task"])

/** Why a name cannot name a user task, or undefined when it can. */
export const taskNameProblem = (name: string): string | undefined =>
  !isTaskName(name) ? `task name ${JSON.stringify(name)} must be 1-64 letters, digits, '_' or '-'`
  : RESERVED_TASK_NAMES.has(name) ? `task name ${JSON.stringify(name)} is reserved for a built-in job kind`
  : undefined

/**
 * Defaults of the per-job policy (docs/operations.md). Leases: a lease lasts `leaseMs` past the last
 * progress beat; an attempt whose progress does not advance for `stallMs`, or that runs longer than
 * `maxTaskMs`, is reclaimed. Speculation, in the spirit of Spark's: once `speculationQuantile` of the
 * tasks are done, an attempt running longer than max(`speculationMinMs`, `speculationMultiplier` x the
 * median task time) gets a copy on another worker, at most `maxSpeculative` copies at once.
 */
export const DEFAULT_POLICY = {
  maxAttempts: 3,
  backoffMs: 200,
  backoffMaxMs: 30_000,
  leaseMs: 10_000,
  stallMs: 60_000,
  maxTaskMs: 3_600_000,
  speculation: true,
  speculationQuantile: 0.75,
  speculationMultiplier: 1.5,
  speculationMinMs: 100, // Spark's spark.speculation.minTaskRuntime
  maxSpeculative: 16,
  placement: "least-loaded"
} as const

export type Placement = "least-loaded" | "random" | "round-robin"
export type Policy = {
  readonly maxAttempts: number
  readonly backoffMs: number
  readonly backoffMaxMs: number
  readonly leaseMs: number
  readonly stallMs: number
  readonly maxTaskMs: number
  readonly speculation: boolean
  readonly speculationQuantile: number
  readonly speculationMultiplier: number
  readonly speculationMinMs: number
  readonly maxSpeculative: number
  readonly placement: Placement
}

export const SumSpecRequest = Schema.Struct({
  kind: Schema.Literals(["sum", "sumsq"]),
  from: IntegerText,
  to: IntegerText,
  tasks: Schema.optionalKey(boundedInt(1, MAX_TASKS_PER_JOB)),
  name: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(200))),
  ...ScheduleFields,
  ...PolicyFields
})
export type SumSpecRequest = typeof SumSpecRequest.Type

/** A job of user-defined tasks: one task per input, run by the workers that loaded a handler named `task`. */
export const TaskSpecRequest = Schema.Struct({
  kind: Schema.Literal("task"),
  task: TaskName,
  inputs: Schema.Array(Schema.Unknown).check(Schema.isMinLength(1), Schema.isMaxLength(MAX_TASKS_PER_JOB)),
  /** Optional; when given it must equal the number of inputs (a resolved spec resolves to itself). */
  tasks: Schema.optionalKey(boundedInt(1, MAX_TASKS_PER_JOB)),
  name: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(200))),
  ...ScheduleFields,
  ...PolicyFields
})
export type TaskSpecRequest = typeof TaskSpecRequest.Type

export type JobSpecRequest = SumSpecRequest | TaskSpecRequest

const ResolvedPolicyFields = {
  maxAttempts: boundedInt(1, 100),
  backoffMs: Schema.Int,
  backoffMaxMs: Schema.Int,
  leaseMs: Schema.Int,
  stallMs: Schema.Int,
  maxTaskMs: Schema.Int,
  speculation: Schema.Boolean,
  speculationQuantile: Schema.Number,
  speculationMultiplier: Schema.Number,
  speculationMinMs: Schema.Int,
  maxSpeculative: Schema.Int,
  placement: Schema.Literals(["least-loaded", "random", "round-robin"])
}

/** A resolved spec: canonical integers, a task count and every policy field. Stored in the log. */
export const ResolvedSumSpec = Schema.Struct({
  kind: Schema.Literals(["sum", "sumsq"]),
  from: IntegerText,
  to: IntegerText,
  tasks: boundedInt(1, MAX_TASKS_PER_JOB),
  name: Schema.optionalKey(Schema.String),
  ...ResolvedScheduleFields,
  ...ResolvedPolicyFields
})
export const ResolvedTaskSpec = Schema.Struct({
  kind: Schema.Literal("task"),
  task: TaskName,
  inputs: Schema.Array(Schema.Unknown),
  tasks: boundedInt(1, MAX_TASKS_PER_JOB),
  name: Schema.optionalKey(Schema.String),
  ...ResolvedScheduleFields,
  ...ResolvedPolicyFields
})
/** A training job: its data by Object Store name and digest, one task per share (see train-spec.ts). */
export const ResolvedTrainSpec = Schema.Struct({
  ...ResolvedTrainFields,
  name: Schema.optionalKey(Schema.String),
  ...ResolvedScheduleFields,
  ...ResolvedPolicyFields
})
/** Batch inference: a trained model over a data set, one task per batch of rows (see infer-spec.ts). */
export const ResolvedInferSpec = Schema.Struct({
  ...ResolvedInferFields,
  name: Schema.optionalKey(Schema.String),
  ...ResolvedScheduleFields,
  ...ResolvedPolicyFields
})
export const ResolvedSpec = Schema.Union([ResolvedSumSpec, ResolvedTaskSpec, ResolvedTrainSpec, ResolvedInferSpec])
export type ResolvedSumSpec = typeof ResolvedSumSpec.Type
export type ResolvedTaskSpec = typeof ResolvedTaskSpec.Type
export type ResolvedTrainSpec = typeof ResolvedTrainSpec.Type
export type ResolvedInferSpec = typeof ResolvedInferSpec.Type
export type ResolvedSpec = ResolvedSumSpec | ResolvedTaskSpec | ResolvedTrainSpec | ResolvedInferSpec

const decodeSumRequest = Schema.decodeUnknownResult(SumSpecRequest, { onExcessProperty: "error" })
const decodeTaskRequest = Schema.decodeUnknownResult(TaskSpecRequest, { onExcessProperty: "error" })
const decodeTrainSpec = Schema.decodeUnknownResult(ResolvedTrainSpec, { onExcessProperty: "error" })
const decodeInferSpec = Schema.decodeUnknownResult(ResolvedInferSpec, { onExcessProperty: "error" })

const fail = (field: string, message: string): never => {
  throw new BadSpec({ field, message })
}

/** Validates a job request and fills in defaults; throws BadSpec naming the field at fault. */
export const resolveSpec = (input: unknown, now: number = Date.now()): ResolvedSpec => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) fail("", "a job spec must be a JSON object")
  const kind = (input as { kind?: unknown }).kind
  if (kind === undefined) fail("kind", "is missing (one of: sum, sumsq, task, train, infer)")
  if (kind === "task") return resolveTaskSpec(input as object, now)
  if (kind === "train") return resolveTrainSpec(input as object)
  if (kind === "infer") return resolveInferSpec(input as object)
  if (kind !== "sum" && kind !== "sumsq") fail("kind", `unknown job kind ${JSON.stringify(kind)} (one of: sum, sumsq, task, train, infer)`)
  for (const field of ["from", "to"] as const) {
    const value = (input as Record<string, unknown>)[field]
    if (value === undefined) fail(field, "is missing")
    if (typeof value === "string" && parseInteger(value) === undefined) {
      fail(field, `${JSON.stringify(value.slice(0, 60))} is not a decimal integer (digits with an optional sign)`)
    }
  }
  const spec = decodeOrFail(decodeSumRequest(input), input)
  const from = parseInteger(spec.from) as bigint
  const to = parseInteger(spec.to) as bigint
  if (from > to) fail("from", `the range is empty: from (${from}) is greater than to (${to})`)
  const length = rangeLength(from, to)
  const wanted = spec.tasks ?? DEFAULT_SUM_TASKS
  // No task covers an empty chunk: a range shorter than the task count gets one task per integer.
  const tasks = length < BigInt(wanted) ? Number(length) : wanted
  return {
    kind: spec.kind,
    from: from.toString(),
    to: to.toString(),
    tasks,
    ...(spec.name === undefined ? {} : { name: spec.name }),
    ...resolveSchedule(spec, now),
    ...resolvePolicy(spec)
  }
}

const resolveTaskSpec = (input: object, now: number): ResolvedTaskSpec => {
  const spec = decodeOrFail(decodeTaskRequest(input), input)
  if (RESERVED_TASK_NAMES.has(spec.task)) fail("task", `${JSON.stringify(spec.task)} is reserved for a built-in job kind`)
  if (spec.tasks !== undefined && spec.tasks !== spec.inputs.length) fail("tasks", `is ${spec.tasks}, but there are ${spec.inputs.length} inputs (one task per input)`)
  const bytes = jsonBytes(spec.inputs, "inputs")
  if (bytes > MAX_INPUT_BYTES) {
    fail("inputs", `${bytes} bytes of JSON; a job carries at most ${MAX_INPUT_BYTES} in the log (put bulk data in the Object Store and pass its name)`)
  }
  return {
    kind: "task",
    task: spec.task,
    inputs: spec.inputs,
    tasks: spec.inputs.length,
    ...(spec.name === undefined ? {} : { name: spec.name }),
    ...resolveSchedule(spec, now),
    ...resolvePolicy(spec)
  }
}

/**
 * Training policy defaults: a share holds its lease for the whole training (renewed by beats), so the
 * per-attempt time limit is long and speculative copies are off (a copy of a share would double its work).
 */
export const TRAINING_POLICY = { maxAttempts: 5, maxTaskMs: 7 * 86_400_000, speculation: false } as const

/**
 * A training spec arrives resolved (the producer has read and uploaded its data): checked field by field,
 * then as a whole; policy and schedule defaults are filled in.
 */
const resolveTrainSpec = (input: object): ResolvedTrainSpec => {
  const withPolicy = { ...DEFAULT_POLICY, ...TRAINING_POLICY, priority: 0, agingMs: DEFAULT_AGING_MS, ...input }
  const spec = decodeOrFail(decodeTrainSpec(withPolicy), withPolicy)
  const problem = trainSpecProblem(spec)
  if (problem !== undefined) fail(problem.field, problem.message)
  return spec
}

/**
 * An inference spec arrives resolved (the producer has uploaded its data and found the model): checked
 * field by field, then as a whole. Batches are idempotent, so the default policy (with speculation) fits.
 */
const resolveInferSpec = (input: object): ResolvedInferSpec => {
  const withPolicy = { ...DEFAULT_POLICY, priority: 0, agingMs: DEFAULT_AGING_MS, ...input }
  const spec = decodeOrFail(decodeInferSpec(withPolicy), withPolicy)
  if (spec.data.rows === 0) fail("data", `${spec.data.source} has no rows`)
  if (spec.data.features !== spec.trained.features) {
    fail("data", `${spec.data.source} has ${spec.data.features} feature columns; the model ${spec.model.job} takes ${spec.trained.features}`)
  }
  const tasks = batchCount(spec.data.rows, 0, 0, spec.batchSize)
  if (spec.tasks !== tasks) fail("tasks", `is ${spec.tasks}, but ${spec.data.rows} rows in batches of ${spec.batchSize} make ${tasks}`)
  return spec
}

/** The size of a value as JSON text (UTF-8 bytes); fails when it is not JSON (a function, NaN, a bigint). */
const jsonBytes = (value: unknown, field: string): number => {
  const problem = jsonProblem(value, field)
  if (problem !== undefined) fail(problem.path, problem.reason)
  return jsonByteLength(value)
}

const decodeOrFail = <A>(decoded: { _tag: "Success"; success: A } | { _tag: "Failure"; failure: unknown }, input: unknown): A => {
  if (decoded._tag === "Success") return decoded.success
  const line = describeIssue(decoded.failure, input)
  const colon = line.indexOf(": ")
  return colon > 0 ? fail(line.slice(0, colon), line.slice(colon + 2)) : fail("", line)
}

type ScheduleRequest = { priority?: number | "low" | "normal" | "high"; agingMs?: number; runAt?: number; delayMs?: number; keepMs?: number }

const resolveSchedule = (spec: ScheduleRequest, now: number): { priority: number; agingMs: number; runAt?: number; keepMs?: number } => {
  if (spec.runAt !== undefined && spec.delayMs !== undefined) fail("delayMs", "give runAt or delayMs, not both")
  const priority = typeof spec.priority === "string" ? PRIORITY_NAMES[spec.priority] : (spec.priority ?? 0)
  const runAt = spec.runAt ?? (spec.delayMs === undefined || spec.delayMs === 0 ? undefined : now + spec.delayMs)
  return {
    priority,
    agingMs: spec.agingMs ?? DEFAULT_AGING_MS,
    ...(runAt === undefined ? {} : { runAt }),
    ...(spec.keepMs === undefined ? {} : { keepMs: spec.keepMs })
  }
}

const resolvePolicy = (spec: Partial<Policy>): Policy => {
  const policy: Policy = { ...DEFAULT_POLICY, ...pickPolicy(spec) }
  if (policy.backoffMaxMs < policy.backoffMs) fail("backoffMaxMs", `must be at least backoffMs (${policy.backoffMs})`)
  return policy
}

const pickPolicy = (spec: Partial<Policy>): Partial<Policy> => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(DEFAULT_POLICY)) {
    const value = spec[key as keyof Policy]
    if (value !== undefined) out[key] = value
  }
  return out as Partial<Policy>
}

/** What a worker needs to run task `index` of a job; derived, never stored per task. */
export type RangeInput = { readonly op: "sum" | "sumsq"; readonly from: string; readonly to: string }

export const taskInput = (spec: ResolvedSpec, index: number, segments?: ReadonlyArray<BatchSegment>): unknown => {
  switch (spec.kind) {
    case "task":
      return spec.inputs[index]
    case "train":
      return { share: index }
    case "infer":
      return batchRows(segments ?? [{ firstTask: 0, firstRow: 0, batchSize: spec.batchSize }], spec.data.rows, index)
    default:
      return rangeInput(spec, index)
  }
}

export const rangeInput = (spec: ResolvedSumSpec, index: number): RangeInput => {
  const chunk = chunkOf(BigInt(spec.from), BigInt(spec.to), spec.tasks, index)
  return { op: spec.kind, from: chunk.from.toString(), to: chunk.to.toString() }
}

/** The kind a worker must have advertised to run a job's tasks: the task name for user-defined tasks. */
export const taskKind = (spec: ResolvedSpec): string => (spec.kind === "task" ? spec.task : spec.kind)
