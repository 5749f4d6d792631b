// Folding a stored message: decode, then apply or set aside. Shared by the coordinator, replay and tools.
import { decodeEvent, type Decoded } from "../domain/event-codec.ts"
import { applyEvent, applyUndecodable } from "./fold.ts"
import type { ClusterState } from "./state.ts"

export const foldMessage = (state: ClusterState, seq: number, data: Uint8Array): Decoded => {
  const decoded = decodeEvent(data)
  if (decoded.ok) applyEvent(state, seq, decoded.event)
  else applyUndecodable(state, seq, decoded.reason)
  return decoded
}
