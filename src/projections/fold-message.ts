// Folding a stored message: decode, check who wrote it, then apply or set aside. Shared by the coordinator,
// replay and tools.
import { decodeEvent, type Decoded } from "../domain/event-codec.ts"
import { applyEvent, applyUndecodable } from "./fold.ts"
import { identityProblem } from "./identity.ts"
import type { ClusterState } from "./state.ts"
import { storedOf, type Stored } from "./stored.ts"

/**
 * `at`: the message's stream metadata (a RawEvent will do), or a bare sequence for a synthetic log. With a
 * subject, the event's writer and payload are checked against it (identity.ts); a mismatch is set aside.
 */
export const foldMessage = (state: ClusterState, at: number | Stored, data: Uint8Array): Decoded => {
  const stored = storedOf(at)
  const decoded = decodeEvent(data)
  if (!decoded.ok) {
    applyUndecodable(state, stored.seq, decoded.reason)
    return decoded
  }
  const problem = stored.subject === undefined ? undefined : identityProblem(decoded.event, stored.subject)
  if (problem !== undefined) {
    applyUndecodable(state, stored.seq, problem)
    return { ok: false, reason: problem }
  }
  applyEvent(state, at, decoded.event)
  return decoded
}
