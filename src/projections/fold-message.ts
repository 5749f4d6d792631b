// Folding a stored message: decode, check who wrote it, then apply or set aside. Shared by the coordinator,
// replay and tools.
import { decodeEvent, type Decoded } from "../domain/event-codec.ts"
import { applyEvent, applyUndecodable } from "./fold.ts"
import { identityProblem } from "./identity.ts"
import type { ClusterState } from "./state.ts"

/** What the stream stored with a message besides its payload. */
export type MessageMeta = {
  /** The subject it was stored on: checked against the event's writer and payload (identity.ts). */
  readonly subject?: string
}

export const foldMessage = (state: ClusterState, seq: number, data: Uint8Array, meta: MessageMeta = {}): Decoded => {
  const decoded = decodeEvent(data)
  if (!decoded.ok) {
    applyUndecodable(state, seq, decoded.reason)
    return decoded
  }
  const problem = meta.subject === undefined ? undefined : identityProblem(decoded.event, meta.subject)
  if (problem !== undefined) {
    applyUndecodable(state, seq, problem)
    return { ok: false, reason: problem }
  }
  applyEvent(state, seq, decoded.event)
  return decoded
}
