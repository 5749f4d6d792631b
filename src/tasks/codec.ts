// Crossing the wire with a task's Schemas: inputs are encoded by the producer and decoded by the worker,
// outputs the other way round. Every failure names the field, prefixed with `input` or `output`.
import { Schema } from "../domain/schema.ts"
import { describeIssue } from "../domain/schema-issue.ts"
import { jsonProblem } from "../domain/json.ts"
import type { AnyTaskDefinition } from "./define.ts"

export type Coded = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string }

const codecs = new WeakMap<object, { decode: (u: unknown) => Coded; encode: (u: unknown) => Coded }>()

/** Compiled decode/encode of one schema (compiled once per schema). */
const codec = (schema: Schema.Top, where: "input" | "output") => {
  let found = codecs.get(schema)
  if (found === undefined) {
    const decode = Schema.decodeUnknownResult(schema as Schema.Codec<unknown, unknown>, { onExcessProperty: "error" })
    const encode = Schema.encodeUnknownResult(schema as Schema.Codec<unknown, unknown>)
    const wrap = (run: typeof decode) => (value: unknown): Coded => {
      const result = run(value)
      if (result._tag === "Success") return { ok: true, value: result.success }
      return { ok: false, error: describeIssue(result.failure, value, where) }
    }
    found = { decode: wrap(decode), encode: wrap(encode) }
    codecs.set(schema, found)
  }
  return found
}

/** A value as JSON would carry it: fails on what JSON cannot hold (functions, bigints, non-finite numbers, class instances). */
const asJson = (value: unknown, where: string): Coded => {
  const problem = jsonProblem(value, where)
  if (problem !== undefined) return { ok: false, error: `${problem.path}: ${problem.reason}` }
  try {
    const text = JSON.stringify(value)
    if (text === undefined) return { ok: false, error: `${where}: is not JSON (got ${typeof value})` }
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, error: `${where}: is not JSON: ${(error as Error).message}` }
  }
}

/** Producer side: a typed input to its wire form. */
export const encodeInput = (def: AnyTaskDefinition, input: unknown): Coded => {
  const encoded = codec(def.input, "input").encode(input)
  if (!encoded.ok) return encoded
  // Check the wire form decodes again: an encode alone does not run every check of the schema.
  const wire = asJson(encoded.value, "input")
  if (!wire.ok) return wire
  const again = codec(def.input, "input").decode(wire.value)
  return again.ok ? wire : again
}

/** Worker side: the wire input to the handler's typed input. */
export const decodeInput = (def: AnyTaskDefinition, wire: unknown): Coded => codec(def.input, "input").decode(wire)

/** Worker side: the handler's typed output to its wire form. */
export const encodeOutput = (def: AnyTaskDefinition, output: unknown): Coded => {
  const encoded = codec(def.output, "output").encode(output)
  // Nothing (a Schema.Void task) travels as null.
  return encoded.ok ? asJson(encoded.value === undefined ? null : encoded.value, "output") : encoded
}

/** Producer side: the wire output to the typed result. */
export const decodeOutput = (def: AnyTaskDefinition, wire: unknown): Coded => {
  const decoded = codec(def.output, "output").decode(wire)
  if (decoded.ok || wire !== null) return decoded
  const nothing = codec(def.output, "output").decode(undefined) // null on the wire may stand for nothing
  return nothing.ok ? nothing : decoded
}
