// How far a worker's clock is from the stream's: the writer's `ts` minus the time the stream stored the
// event. Observed = true offset - publish latency (latency only ever lowers it), so the highest recent
// observation is the best estimate; an old high one gives way after SKEW_WINDOW_MS of stream time, so a
// clock that was stepped back is seen within that window. Pure: both times come from the log.
import type { DtqEvent } from "../domain/events.ts"
import type { ClusterState } from "./state.ts"

/** A worker whose clock is further than this from the stream's is warned about (docs/operations.md). */
export const CLOCK_SKEW_WARN_MS = 2000

/** How long (stream time) an observed offset stands before a lower one replaces it. */
export const SKEW_WINDOW_MS = 10_000

export const isSkewed = (offsetMs: number | undefined): boolean => offsetMs !== undefined && Math.abs(offsetMs) > CLOCK_SKEW_WARN_MS

/** Records a worker's clock offset from one of its events stored at `storedTime`. */
export const noteWriterClock = (state: ClusterState, event: DtqEvent, storedTime: number): void => {
  if (event.writer.role !== "worker") return
  const worker = state.workers.get(event.writer.id)
  if (worker === undefined) return
  const observed = event.ts - storedTime
  if (worker.clockOffsetMs === undefined || observed >= worker.clockOffsetMs || storedTime - (worker.clockOffsetAt ?? 0) > SKEW_WINDOW_MS) {
    worker.clockOffsetMs = observed
    worker.clockOffsetAt = storedTime
  }
}
