// The coordinator's "now": the stream's time as well as it can tell, never its own wall clock. The fold
// times every event by when the stream stored it, so deadlines, backoff, speculation and schedules must be
// judged on that clock too. Two kinds of sample bound it, both measured with this process's monotonic clock:
//   - any message read back: the stream's time when it arrives is at least its stored time, so
//     stream(t) >= stored + (t - arrival)                                   (a lower bound);
//   - an own event read back: it was stored after it was sent, so stream(sent) <= stored, and
//     stream(t) <= stored + (t - sent)                                      (an upper bound).
// `now()` is the best (highest) lower bound: never ahead of the stream, so a deadline is never judged
// early; it lags by at most `errorMs` (the gap to the best upper bound, about one round trip to the log).
// Bounds that cross mean the stream's clock jumped (a new stream leader, a server's clock stepped):
// the newest sample wins. Samples older than SAMPLE_MAX_AGE_MS give way to any fresh one (clock drift).

export type ClockSources = {
  /** Monotonic milliseconds (performance.now): elapsed time, immune to wall-clock steps. */
  readonly monotonic: () => number
  /** Wall-clock milliseconds since the epoch: only before the first sample, and to report this host's offset. */
  readonly wall: () => number
}

export const SYSTEM_CLOCK: ClockSources = { monotonic: () => performance.now(), wall: () => Date.now() }

export type ClockEstimate = {
  /** The stream's time as estimated now (ms since the epoch). */
  readonly now: number
  /** `stream`: from samples of the log; `wall`: no sample yet, this host's wall clock stands in. */
  readonly basis: "stream" | "wall"
  /** The stream's time is in [now, now + errorMs]; undefined until an own event has come back. */
  readonly errorMs: number | undefined
  /** This host's wall clock minus the estimate (its own clock's offset from the stream's). */
  readonly wallOffsetMs: number
}

type Sample = { readonly stored: number; readonly at: number }

const SENT_KEPT = 10_000
export const SAMPLE_MAX_AGE_MS = 60_000

export class StreamClock {
  readonly #sources: ClockSources
  readonly #sent = new Map<string, number>() // own event id -> monotonic time it was sent
  #lower: Sample | undefined
  #upper: Sample | undefined

  constructor(sources: ClockSources = SYSTEM_CLOCK) {
    this.#sources = sources
  }

  /** Call right before appending an own event: its stored time, once read back, bounds the stream's clock from above. */
  sent(id: string): void {
    this.#sent.set(id, this.#sources.monotonic())
    if (this.#sent.size > SENT_KEPT) this.#sent.delete(this.#sent.keys().next().value as string) // never read back
  }

  /** Call for every message read from the log, with its stored time and (if decodable) its event id. */
  observe(stored: number, id?: string): void {
    const at = this.#sources.monotonic()
    const sentAt = id === undefined ? undefined : this.#sent.get(id)
    if (sentAt !== undefined) this.#sent.delete(id as string)
    const upper = sentAt === undefined ? undefined : { stored, at: sentAt }
    if (this.#lower === undefined || stored > valueAt(this.#lower, at) || at - this.#lower.at > SAMPLE_MAX_AGE_MS) this.#lower = { stored, at }
    if (upper !== undefined && (this.#upper === undefined || valueAt(upper, at) < valueAt(this.#upper, at) || at - this.#upper.at > SAMPLE_MAX_AGE_MS)) {
      this.#upper = upper
    }
    if (this.#upper !== undefined && valueAt(this.#upper, at) < valueAt(this.#lower, at)) {
      // Crossed: the stream's clock jumped. Trust this message alone.
      this.#lower = { stored, at }
      this.#upper = upper
    }
  }

  /** The stream's time now (a lower bound; see the header). */
  now(): number {
    return this.#lower === undefined ? this.#sources.wall() : Math.floor(valueAt(this.#lower, this.#sources.monotonic()))
  }

  estimate(): ClockEstimate {
    const at = this.#sources.monotonic()
    const wall = this.#sources.wall()
    if (this.#lower === undefined) return { now: wall, basis: "wall", errorMs: undefined, wallOffsetMs: 0 }
    const now = Math.floor(valueAt(this.#lower, at))
    const errorMs = this.#upper === undefined ? undefined : Math.max(0, Math.ceil(valueAt(this.#upper, at) - valueAt(this.#lower, at)))
    return { now, basis: "stream", errorMs, wallOffsetMs: wall - now }
  }
}

const valueAt = (sample: Sample, at: number): number => sample.stored + (at - sample.at)
