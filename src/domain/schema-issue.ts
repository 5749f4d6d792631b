// Turns a Schema decode failure into one line that names the field and shows what was there,
// e.g. `results[0].index: Expected number, got "three"`.
import { SchemaIssue } from "effect"
import { Schema } from "./schema.ts"

const toStandard = SchemaIssue.makeFormatterStandardSchemaV1()

const keyOf = (segment: unknown): PropertyKey =>
  (typeof segment === "object" && segment !== null && "key" in segment ? (segment as { key: PropertyKey }).key : segment) as PropertyKey

const pathText = (path: ReadonlyArray<PropertyKey>, root: string): string =>
  root + path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 && root === "" ? String(key) : `.${String(key)}`)).join("")

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): { found: boolean; value: unknown } => {
  let current = input
  for (const key of path) {
    if (typeof current !== "object" || current === null || !Object.hasOwn(current, key)) return { found: false, value: undefined }
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return { found: true, value: current }
}

const show = (value: unknown): string => {
  const text = typeof value === "bigint" ? `${value}n` : (JSON.stringify(value) ?? String(value))
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/**
 * The first issue of a decode failure as `path: message, got VALUE` (just the message at the root).
 * With `root`, paths start with it (`input.name: ...`, or `input: ...` at the root).
 */
export const describeIssue = (error: unknown, input?: unknown, root = ""): string => {
  if (!Schema.isSchemaError(error)) return error instanceof Error ? error.message : String(error)
  const [first] = toStandard(error.issue).issues
  if (first === undefined) return error.message
  const path = (first.path ?? []).map(keyOf)
  const at = valueAt(input, path)
  const got = input !== undefined && at.found && !first.message.includes(", got ") ? `, got ${show(at.value)}` : ""
  const where = pathText(path, root)
  return where === "" ? `${first.message}${got}` : `${where}: ${first.message}${got}`
}
