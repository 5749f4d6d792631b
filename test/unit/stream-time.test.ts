// The fold's one clock: every event is timed by when the stream stored it, whatever its writer's clock says.
import { describe, expect, it } from "vitest"
import type { DtqEvent } from "../../src/domain/events.ts"
import { stateDigest } from "../../src/projections/digest.ts"
import { applyEvent } from "../../src/projections/fold.ts"
import { CLOCK_SKEW_WARN_MS, SKEW_WINDOW_MS, isSkewed } from "../../src/projections/clock-skew.ts"
import { emptyState, runKey, type ClusterState } from "../../src/projections/state.ts"
import { restoreSnapshot, takeSnapshot } from "../../src/projections/snapshot.ts"
import * as F from "./fixtures.ts"

const T0 = 1_700_000_000_000
const LEASE = 2000
const spec = F.sumSpec(1, 100, 2, { leaseMs: LEASE, speculation: false })

/** Folds events as stored at the given stream times (seq 1, 2, ...). */
const foldStored = (entries: ReadonlyArray<readonly [DtqEvent, number]>, state: ClusterState = emptyState()): ClusterState => {
  for (const [event, time] of entries) applyEvent(state, { seq: state.seq + 1, time, subject: "dtq.ev.test" }, event)
  return state
}

/** A job leased at T0 + 100 to w1, whose clock is `offset` ms off the stream's; it beats once at T0 + 1000. */
const story = (offset: number): Array<readonly [DtqEvent, number]> => {
  const lease = [{ jobId: "j1", index: 0, attempt: 1 }]
  return [
    [F.coordinatorElected(1, { ts: T0 }), T0],
    [F.workerJoined("w1", 2, { ts: T0 + 10 + offset }), T0 + 10],
    [F.jobSubmitted("j1", spec, { ts: T0 + 20 }), T0 + 20],
    [F.tasksScheduled("j1", 2, { ts: T0 + 100 }), T0 + 100],
    [F.taskLeased("w1", lease, { ts: T0 + 100, deadline: T0 + 100 + LEASE }), T0 + 101],
    [F.progressBeat("w1", [{ ...lease[0]!, progress: 0.5 }], { ts: T0 + 1000 + offset }), T0 + 1003]
  ]
}

describe("the fold's clock is the stream's stored time", () => {
  it.each([30_000, -30_000, 0])("a worker %i ms off renews its lease from the beat's stored time", (offset) => {
    const state = foldStored(story(offset))
    const run = state.jobs.get("j1")?.running.get(runKey(0, 1))
    expect(run).toMatchObject({ leasedAt: T0 + 101, progressAt: T0 + 1003, deadline: T0 + 1003 + LEASE })
    expect(state.jobs.get("j1")).toMatchObject({ submittedAt: T0 + 20, startedAt: T0 + 100 })
    expect(state.workers.get("w1")).toMatchObject({ joinedAt: T0 + 10, lastEventAt: T0 + 1003 })
    expect(state.lastTs).toBe(T0 + 1003)
  })

  it("gives the same digest whatever the writers' clocks said, once their own stamps are set aside", () => {
    // The digest covers the events' effects, not their payloads: the same stored times give the same state
    // except for the observed offsets, which are measured from the writers' stamps on purpose.
    const a = foldStored(story(30_000))
    const b = foldStored(story(-30_000))
    for (const s of [a, b]) for (const w of s.workers.values()) (w.clockOffsetMs = 0), (w.clockOffsetAt = 0)
    expect(stateDigest(a)).toBe(stateDigest(b))
  })

  it("never moves backwards: an event stored by a leader whose clock is behind gets the last time", () => {
    const entries = story(0)
    entries.push([F.progressBeat("w1", [{ jobId: "j1", index: 0, attempt: 1, progress: 0.6 }], { ts: T0 + 1100 }), T0 + 500])
    const state = foldStored(entries)
    expect(state.lastTs).toBe(T0 + 1003)
    const run = state.jobs.get("j1")?.running.get(runKey(0, 1))
    expect(run).toMatchObject({ deadline: T0 + 1003 + LEASE, progress: 0.6, progressAt: T0 + 1003 })
  })

  it("takes whole milliseconds of the stream's nanosecond stamps", () => {
    const state = emptyState()
    applyEvent(state, { seq: 1, time: T0 + 0.999 }, F.coordinatorElected(1, { ts: T0 + 5 }))
    expect(state).toMatchObject({ now: T0, lastTs: T0, leaderSince: T0 })
  })

  it("without stored times (a synthetic log), the events' own stamps stand in", () => {
    const state = emptyState()
    story(0).forEach(([event], i) => applyEvent(state, i + 1, event))
    expect(state.jobs.get("j1")?.running.get(runKey(0, 1))?.deadline).toBe(T0 + 1000 + LEASE)
    expect(state.workers.get("w1")?.clockOffsetMs).toBeUndefined()
  })
})

describe("workers' clock offsets", () => {
  it("are measured as the writer's stamp minus the stored time, the highest in a window", () => {
    const state = foldStored(story(30_000))
    expect(state.workers.get("w1")?.clockOffsetMs).toBe(30_000) // the join was stored at once, the beat 3 ms late
    // A slower publish (latency lowers the observation) does not lower the estimate within the window...
    foldStored([[F.progressBeat("w1", [], { ts: T0 + 2000 + 30_000 - 400 }), T0 + 2000]], state)
    expect(state.workers.get("w1")?.clockOffsetMs).toBe(30_000)
    // ...but after SKEW_WINDOW_MS of stream time a clock that was stepped back is seen.
    const later = T0 + 1003 + SKEW_WINDOW_MS + 1
    foldStored([[F.progressBeat("w1", [], { ts: later + 5 }), later]], state)
    expect(state.workers.get("w1")?.clockOffsetMs).toBe(5)
    expect(isSkewed(state.workers.get("w1")?.clockOffsetMs)).toBe(false)
  })

  it("flag a worker beyond the bound either way, and a restarted process starts afresh", () => {
    const behind = foldStored(story(-30_000))
    expect(behind.workers.get("w1")?.clockOffsetMs).toBe(-30_000)
    expect(isSkewed(behind.workers.get("w1")?.clockOffsetMs)).toBe(true)
    expect(isSkewed(CLOCK_SKEW_WARN_MS)).toBe(false)
    expect(isSkewed(-CLOCK_SKEW_WARN_MS - 1)).toBe(true)
    foldStored([[F.workerJoined("w1", 2, { ts: T0 + 5000 + 7 }), T0 + 5000]], behind)
    expect(behind.workers.get("w1")?.clockOffsetMs).toBe(7)
  })

  it("survive a snapshot", () => {
    const state = foldStored(story(-30_000))
    const { bytes } = takeSnapshot(state, T0)
    const restored = restoreSnapshot(bytes)
    expect(restored.ok && restored.state.workers.get("w1")?.clockOffsetMs).toBe(-30_000)
    // The times after a snapshot come from the stream as before.
    if (!restored.ok) throw new Error(restored.reason)
    foldStored([[F.progressBeat("w1", [{ jobId: "j1", index: 0, attempt: 1, progress: 0.7 }], { ts: T0 }), T0 + 4000]], restored.state)
    expect(restored.state.jobs.get("j1")?.running.get(runKey(0, 1))?.deadline).toBe(T0 + 4000 + LEASE)
  })
})
