// The coordinator's estimate of the stream's time, with injected clocks: nothing here sleeps.
import { describe, expect, it } from "vitest"
import { SAMPLE_MAX_AGE_MS, StreamClock } from "../../src/coordinator/stream-clock.ts"

/** A host whose monotonic clock starts at 0 and whose wall clock is `wallOffset` off the stream's. */
const host = (streamAtZero: number, wallOffset: number) => {
  let mono = 0
  const clock = new StreamClock({ monotonic: () => mono, wall: () => streamAtZero + mono + wallOffset })
  return {
    clock,
    advance: (ms: number) => (mono += ms),
    /** The true stream time now. */
    stream: () => streamAtZero + mono
  }
}

const S0 = 1_700_000_000_000

describe("StreamClock", () => {
  it("falls back to the wall clock, flagged, until it has read the stream", () => {
    const h = host(S0, 30_000)
    expect(h.clock.estimate()).toEqual({ now: S0 + 30_000, basis: "wall", errorMs: undefined, wallOffsetMs: 0 })
  })

  it("is never ahead of the stream and lags by at most its error (an own event's round trip)", () => {
    const h = host(S0, -30_000) // this host's wall clock is 30 s behind: it must not matter
    h.clock.sent("e1")
    h.advance(3) // stored 3 ms after it was sent...
    const stored = h.stream()
    h.advance(4) // ...and read back 4 ms later
    h.clock.observe(stored, "e1")
    const e = h.clock.estimate()
    expect(e).toMatchObject({ basis: "stream", now: S0 + 3, errorMs: 7, wallOffsetMs: -30_000 + 4 })
    expect(e.now).toBeLessThanOrEqual(h.stream())
    expect(e.now + (e.errorMs as number)).toBeGreaterThanOrEqual(h.stream())
    // Elapsed time carries it forward with the same bound.
    h.advance(10_000)
    expect(h.clock.now()).toBe(h.stream() - 4)
    expect(h.clock.estimate().errorMs).toBe(7)
  })

  it("keeps the tightest bounds: a fresher message lifts the estimate, a faster round trip narrows the error", () => {
    const h = host(S0, 0)
    h.clock.sent("slow")
    h.advance(50)
    h.clock.observe(h.stream(), "slow") // read back at once: a tight lower bound, a loose upper one
    expect(h.clock.estimate().errorMs).toBe(50)
    h.advance(100)
    h.clock.sent("fast")
    h.advance(1)
    const stored = h.stream()
    h.advance(1)
    h.clock.observe(stored, "fast")
    // The first message was read back the moment it was stored (exact); the fast one bounds it within 1 ms.
    expect(h.clock.estimate()).toMatchObject({ now: h.stream(), errorMs: 1 })
    // An old message read late (a replay) lowers nothing.
    h.clock.observe(S0, undefined)
    expect(h.clock.now()).toBe(h.stream())
  })

  it("follows a stream clock that jumps back (a new stream leader behind the old one) once an own event shows it", () => {
    const h = host(S0, 0)
    h.clock.sent("a")
    h.clock.observe(h.stream(), "a")
    expect(h.clock.now()).toBe(S0)
    h.advance(1000)
    // The new leader's clock is 5 s behind: an own event stored now reads 5 s earlier than the estimate.
    h.clock.sent("b")
    h.advance(2)
    h.clock.observe(h.stream() - 5000, "b")
    const e = h.clock.estimate()
    expect(e.now).toBe(h.stream() - 5000)
    expect(e.errorMs).toBe(2)
  })

  it("follows a stream clock that jumps forward, and lets old samples go", () => {
    const h = host(S0, 0)
    h.clock.sent("a")
    h.clock.observe(h.stream(), "a")
    h.advance(10)
    h.clock.observe(h.stream() + 60_000) // stepped forward a minute: the upper bound no longer holds
    expect(h.clock.estimate()).toMatchObject({ now: h.stream() + 60_000, errorMs: undefined })
    h.advance(SAMPLE_MAX_AGE_MS + 1)
    h.clock.observe(h.stream() + 60_000 - 100) // a looser but fresh sample replaces a stale one
    expect(h.clock.now()).toBe(h.stream() + 60_000 - 100)
  })

  it("forgets own events that never came back (bounded memory)", () => {
    const h = host(S0, 0)
    for (let i = 0; i < 20_000; i++) h.clock.sent(`e${i}`)
    h.clock.observe(S0, "e0") // evicted: only a lower bound
    expect(h.clock.estimate().errorMs).toBeUndefined()
    h.clock.observe(S0, "e19999")
    expect(h.clock.estimate().errorMs).toBe(0)
  })
})
