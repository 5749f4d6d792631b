// Worker liveness: a live worker whose heartbeats stop for `timeoutMs` is declared lost, which reclaims
// its leases. Heartbeats are observations (core NATS, not events); the WorkerLost decision is an event.
import type { ClusterState } from "../projections/state.ts"
import type { Draft, InFlight } from "./scheduler.ts"

export class HeartbeatClock {
  readonly #lastSeen = new Map<string, number>()
  #baseline = 0

  /** Everyone gets a full timeout of grace from `now` (a coordinator that just took over has seen no beats). */
  startGrace(now: number): void {
    this.#baseline = now
  }

  beat(workerId: string, now: number): void {
    this.#lastSeen.set(workerId, now)
  }

  lastSeen(workerId: string): number {
    return Math.max(this.#lastSeen.get(workerId) ?? 0, this.#baseline)
  }
}

export const lostWorkers = (state: ClusterState, clock: HeartbeatClock, inFlight: InFlight, now: number, timeoutMs: number): Draft[] => {
  const drafts: Draft[] = []
  for (const worker of state.workers.values()) {
    if ((worker.phase !== "live" && worker.phase !== "draining") || inFlight.keys.has(`worker:${worker.workerId}`)) continue
    const silentMs = now - clock.lastSeen(worker.workerId)
    if (silentMs > timeoutMs) {
      drafts.push({ type: "WorkerLost", workerId: worker.workerId, reason: `no heartbeat for ${Math.round(silentMs)} ms` })
    }
  }
  return drafts
}
