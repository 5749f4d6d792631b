// A digest of the state: SHA-256 of a canonical form (sorted keys, maps as sorted entries, typed arrays
// as hex). A live coordinator and a replay of the same log print the same digest.
import { createHash } from "node:crypto"
import type { ClusterState } from "./state.ts"

const byKey = (a: [string, unknown], b: [string, unknown]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

/** A JSON-compatible value with a single canonical shape for `value`. */
export const canonical = (value: unknown): unknown => {
  if (value === undefined || value === null) return null
  if (typeof value === "bigint") return `${value}n`
  if (typeof value !== "object") return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")
  if (Array.isArray(value)) return value.map(canonical)
  if (value instanceof Map) {
    return [...value.entries()].map(([k, v]) => [String(k), canonical(v)] as [string, unknown]).sort(byKey)
  }
  if (value instanceof Set) return [...value].map(String).sort()
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, canonical(v)] as [string, unknown])
    .sort(byKey)
  return Object.fromEntries(entries)
}

/** SHA-256 (hex) of the canonical form of the whole state. */
export const stateDigest = (state: ClusterState): string =>
  createHash("sha256").update(JSON.stringify(canonical(state))).digest("hex")
