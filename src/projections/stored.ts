// Where and when the stream stored an event: what the fold knows about a message besides its payload.
// The stream's stored time is the fold's only clock (docs/architecture.md, "Time"): every writer stamps
// its own `ts`, but writers' clocks disagree; the stream leader stamps every message it stores, so a
// replay sees exactly the times the live coordinator saw.

export type Stored = {
  /** The stream sequence. */
  readonly seq: number
  /** The stream's timestamp of the message, ms since the epoch. Absent only for synthetic logs (tests, benches): then the event's own `ts` stands in. */
  readonly time?: number
  /** The subject it was stored on (for checks of the writer's identity against its subject). */
  readonly subject?: string
}

/** The stored time in whole ms (JetStream stamps in ns), as every other time in the state; undefined without one. */
export const storedMs = (stored: Stored): number | undefined => (stored.time === undefined ? undefined : Math.floor(stored.time))

/** A bare sequence number is a message without stream metadata. */
export const storedOf = (at: number | Stored): Stored => (typeof at === "number" ? { seq: at } : at)
