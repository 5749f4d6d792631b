// Job specs: what a producer may ask for, validated before anything enters the log.
// The spec stored in JobSubmitted is the *resolved* one (every default filled in), so a replay never
// depends on the defaults of the code that replays it.
import { Schema } from "./schema.ts"
import { BadSpec } from "./errors.ts"
import { describeIssue } from "./schema-issue.ts"
import { chunkOf, parseInteger, rangeLength } from "./range-sum.ts"

export const MAX_TASKS_PER_JOB = 1_000_000
export const DEFAULT_SUM_TASKS = 100

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
  ...PolicyFields
})
export type SumSpecRequest = typeof SumSpecRequest.Type

export const JobSpecRequest = SumSpecRequest
export type JobSpecRequest = SumSpecRequest

/** A resolved spec: canonical integers, a task count and every policy field. Stored in the log. */
export const ResolvedSumSpec = Schema.Struct({
  kind: Schema.Literals(["sum", "sumsq"]),
  from: IntegerText,
  to: IntegerText,
  tasks: boundedInt(1, MAX_TASKS_PER_JOB),
  name: Schema.optionalKey(Schema.String),
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
})
export type ResolvedSpec = typeof ResolvedSumSpec.Type
export const ResolvedSpec = ResolvedSumSpec

const decodeRequest = Schema.decodeUnknownResult(JobSpecRequest, { onExcessProperty: "error" })

const fail = (field: string, message: string): never => {
  throw new BadSpec({ field, message })
}

/** Validates a job request and fills in defaults; throws BadSpec naming the field at fault. */
export const resolveSpec = (input: unknown): ResolvedSpec => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) fail("", "a job spec must be a JSON object")
  const kind = (input as { kind?: unknown }).kind
  if (kind === undefined) fail("kind", "is missing (one of: sum, sumsq)")
  if (kind !== "sum" && kind !== "sumsq") fail("kind", `unknown job kind ${JSON.stringify(kind)} (one of: sum, sumsq)`)
  for (const field of ["from", "to"] as const) {
    const value = (input as Record<string, unknown>)[field]
    if (value === undefined) fail(field, "is missing")
    if (typeof value === "string" && parseInteger(value) === undefined) {
      fail(field, `${JSON.stringify(value.slice(0, 60))} is not a decimal integer (digits with an optional sign)`)
    }
  }
  const decoded = decodeRequest(input)
  if (decoded._tag === "Failure") {
    const line = describeIssue(decoded.failure, input)
    const colon = line.indexOf(": ")
    return colon > 0 ? fail(line.slice(0, colon), line.slice(colon + 2)) : fail("", line)
  }
  const spec = decoded.success
  const from = parseInteger(spec.from) as bigint
  const to = parseInteger(spec.to) as bigint
  if (from > to) fail("from", `the range is empty: from (${from}) is greater than to (${to})`)
  const length = rangeLength(from, to)
  const wanted = spec.tasks ?? DEFAULT_SUM_TASKS
  // No task covers an empty chunk: a range shorter than the task count gets one task per integer.
  const tasks = length < BigInt(wanted) ? Number(length) : wanted
  const policy: Policy = { ...DEFAULT_POLICY, ...pickPolicy(spec) }
  if (policy.backoffMaxMs < policy.backoffMs) fail("backoffMaxMs", `must be at least backoffMs (${policy.backoffMs})`)
  return {
    kind: spec.kind,
    from: from.toString(),
    to: to.toString(),
    tasks,
    ...(spec.name === undefined ? {} : { name: spec.name }),
    ...policy
  }
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
export type TaskInput = { readonly op: "sum" | "sumsq"; readonly from: string; readonly to: string }

export const taskInput = (spec: ResolvedSpec, index: number): TaskInput => {
  const chunk = chunkOf(BigInt(spec.from), BigInt(spec.to), spec.tasks, index)
  return { op: spec.kind, from: chunk.from.toString(), to: chunk.to.toString() }
}
