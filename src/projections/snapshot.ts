// Snapshots of the projections: the whole state as JSON (maps, sets, byte arrays and big integers tagged),
// with the stream sequence it covers, a schema version and the state digest. A snapshot is trusted only
// if it decodes, has this version, and the restored state has the recorded digest.
import { stateDigest } from "./digest.ts"
import type { ClusterState } from "./state.ts"

// 2: inference state, rate windows and the fair-share allocation.
// 3: retention (expiredJobs); a finished job's per-task arrays freed (one branch), or stored times (another).
// 4: both: times are the stream's stored times (not writers' `ts`), workers' clock offsets, and retention.
export const SNAPSHOT_VERSION = 4

export type SnapshotHeader = { readonly version: number; readonly seq: number; readonly digest: string; readonly takenAt: number }

const TAGS = ["$map", "$set", "$u8", "$big", "$obj"]

// A function, not an arrow: `this[key]` is the value before any toJSON (vega-lite, for one, gives
// Set.prototype a toJSON that would turn a Set into the text "Set(...)").
function replacer(this: Record<string, unknown>, key: string, converted: unknown): unknown {
  const value = key === "" ? converted : this[key]
  if (value instanceof Map) return { $map: [...value.entries()] }
  if (value instanceof Set) return { $set: [...value] }
  if (value instanceof Uint8Array) return { $u8: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") }
  if (typeof value === "bigint") return { $big: value.toString() }
  // User data (task inputs and outputs) may itself look like a tag: such an object is escaped.
  if (typeof value === "object" && value !== null && !Array.isArray(value) && TAGS.some((tag) => Object.hasOwn(value, tag))) {
    return { $obj: Object.entries(value) }
  }
  return converted
}

const reviver = (_key: string, value: unknown): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  const v = value as Record<string, unknown>
  if ("$map" in v) return new Map(v.$map as Array<[unknown, unknown]>)
  if ("$set" in v) return new Set(v.$set as unknown[])
  if ("$u8" in v) return new Uint8Array(Buffer.from(v.$u8 as string, "base64"))
  if ("$big" in v) return BigInt(v.$big as string)
  if ("$obj" in v) return Object.fromEntries(v.$obj as Array<[string, unknown]>)
  return value
}

/** The snapshot of a state: its header and the bytes to store. */
export const takeSnapshot = (state: ClusterState, takenAt: number): { header: SnapshotHeader; bytes: Uint8Array } => {
  const header: SnapshotHeader = { version: SNAPSHOT_VERSION, seq: state.seq, digest: stateDigest(state), takenAt }
  const bytes = new TextEncoder().encode(JSON.stringify({ header, state }, replacer))
  return { header, bytes }
}

export type Restored = { readonly ok: true; readonly header: SnapshotHeader; readonly state: ClusterState } | { readonly ok: false; readonly reason: string }

/** Restores a snapshot, or says why it cannot be trusted. Never throws. */
export const restoreSnapshot = (bytes: Uint8Array): Restored => {
  let parsed: { header?: SnapshotHeader; state?: ClusterState }
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes), reviver) as typeof parsed
  } catch (error) {
    return { ok: false, reason: `not a readable snapshot: ${(error as Error).message.slice(0, 100)}` }
  }
  const { header, state } = parsed
  if (header === undefined || state === undefined || typeof header !== "object" || typeof state !== "object") {
    return { ok: false, reason: "not a snapshot: header or state missing" }
  }
  if (header.version !== SNAPSHOT_VERSION) return { ok: false, reason: `snapshot version ${header.version}, this dtq reads ${SNAPSHOT_VERSION}` }
  let digest: string
  try {
    digest = stateDigest(state)
  } catch (error) {
    return { ok: false, reason: `snapshot state is malformed: ${(error as Error).message.slice(0, 100)}` }
  }
  if (digest !== header.digest) return { ok: false, reason: `digest mismatch: the header says ${header.digest.slice(0, 12)}…, the state hashes to ${digest.slice(0, 12)}…` }
  if (state.seq !== header.seq) return { ok: false, reason: `the state covers #${state.seq}, the header says #${header.seq}` }
  return { ok: true, header, state }
}
