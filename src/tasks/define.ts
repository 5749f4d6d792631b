// User-defined tasks: a name, an input and an output Schema, a handler, and defaults for how the task runs.
// The same definition serves the worker (which decodes the input and encodes the output) and the producer
// (which validates the input before it enters the log and decodes the typed result).
import { Schema } from "../domain/schema.ts"
import { taskNameProblem } from "../domain/job-spec.ts"
import type { TaskContext } from "../worker/task-handler.ts"

/** How a task runs unless a submission says otherwise. Each optional; the cluster's defaults apply. */
export type TaskDefaults = {
  /** Attempts at most (the first run included). Cluster default 3. */
  readonly maxAttempts?: number
  /** Backoff before the first retry, doubling each time, capped at backoffMaxMs. Cluster defaults 200 / 30000. */
  readonly backoffMs?: number
  readonly backoffMaxMs?: number
  /** An attempt running longer than this is taken back and retried. Cluster default 1 hour. */
  readonly timeoutMs?: number
  /** Higher runs first under contention: an integer in [-100, 100], or low | normal | high. Default 0. */
  readonly priority?: number | "low" | "normal" | "high"
}

export type TaskDefinition<I = unknown, O = unknown, IE = unknown, OE = unknown> = {
  readonly _tag: "TaskDefinition"
  readonly name: string
  readonly input: Schema.Codec<I, IE>
  readonly output: Schema.Codec<O, OE>
  readonly handler: (input: I, context: TaskContext) => O | Promise<O>
  readonly defaults: TaskDefaults
}

/** Any task definition, whatever its types (what a worker loads). */
export type AnyTaskDefinition = TaskDefinition<any, any, any, any>

export type InputOf<D> = D extends TaskDefinition<infer I, any, any, any> ? I : never
export type OutputOf<D> = D extends TaskDefinition<any, infer O, any, any> ? O : never

/** Defines a task; throws when the name cannot be used (it is what workers advertise and jobs name). */
export const defineTask = <I, O, IE, OE>(definition: {
  readonly name: string
  readonly input: Schema.Codec<I, IE>
  readonly output: Schema.Codec<O, OE>
  readonly handler: (input: I, context: TaskContext) => O | Promise<O>
  readonly defaults?: TaskDefaults
}): TaskDefinition<I, O, IE, OE> => {
  const problem = taskNameProblem(definition.name)
  if (problem !== undefined) throw new Error(problem)
  if (typeof definition.handler !== "function") throw new Error(`task ${definition.name}: handler must be a function`)
  if (!Schema.isSchema(definition.input) || !Schema.isSchema(definition.output)) {
    throw new Error(`task ${definition.name}: input and output must be Schemas (import { Schema } from "dtq")`)
  }
  return Object.freeze({ _tag: "TaskDefinition", ...definition, defaults: definition.defaults ?? {} })
}

export const isTaskDefinition = (value: unknown): value is AnyTaskDefinition =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "TaskDefinition"
