// Folding a stored message: decode, then apply or set aside. Shared by the coordinator, replay and tools.
import { decodeEvent, type Decoded } from "../domain/event-codec.ts"
import { applyEvent, applyUndecodable } from "./fold.ts"
import type { ClusterState } from "./state.ts"
import { storedOf, type Stored } from "./stored.ts"

/** `at`: the message's stream metadata (a RawEvent will do), or a bare sequence for a synthetic log. */
export const foldMessage = (state: ClusterState, at: number | Stored, data: Uint8Array): Decoded => {
  const decoded = decodeEvent(data)
  if (decoded.ok) applyEvent(state, at, decoded.event)
  else applyUndecodable(state, storedOf(at).seq, decoded.reason)
  return decoded
}
