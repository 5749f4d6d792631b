// Turns a Schema decode failure into one line that names the field, e.g. `tasks: Expected an integer, got 1.5`.
import { SchemaIssue } from "effect"
import { Schema } from "./schema.ts"

const toStandard = SchemaIssue.makeFormatterStandardSchemaV1()

const pathText = (path: ReadonlyArray<unknown> | undefined): string =>
  (path ?? []).map((segment) => (typeof segment === "object" && segment !== null && "key" in segment ? (segment as { key: PropertyKey }).key : segment) as PropertyKey).map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join("")

/** The first issue of a decode failure as `path: message` (or just the message at the root). */
export const describeIssue = (error: unknown): string => {
  if (Schema.isSchemaError(error)) {
    const [first] = toStandard(error.issue).issues
    if (first === undefined) return error.message
    const path = pathText(first.path)
    return path === "" ? first.message : `${path}: ${first.message}`
  }
  return error instanceof Error ? error.message : String(error)
}
