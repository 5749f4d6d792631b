// Where tasks go: each worker's capacity (adapted to its speed) and the job's placement policy.
import type { Placement } from "../domain/job-spec.ts"
import type { ClusterState, WorkerState } from "../projections/state.ts"
import type { InFlight } from "./scheduler.ts"

/** Completed tasks a worker needs before its speed counts. */
const MIN_SAMPLES = 10
/** A worker is "slow" only if also this much slower in absolute terms (sub-millisecond noise is not slowness). */
const MIN_GAP_MS = 10

/** Mean task time of the live workers with enough samples; undefined with fewer than two of them. */
export const clusterMeanMs = (state: ClusterState): number | undefined => {
  let ms = 0
  let tasks = 0
  let workers = 0
  for (const w of state.workers.values()) {
    if (w.phase !== "live" || w.completed < MIN_SAMPLES) continue
    ms += w.taskMsTotal
    tasks += w.completed
    workers++
  }
  return workers < 2 ? undefined : ms / tasks
}

/**
 * Adaptive placement, after the Java predecessor: a worker at 2x the cluster's mean task time gets one
 * task at a time; at 1.5x, half its capacity. Capacity = slots + prefetch (or slots alone).
 */
export const capacity = (worker: WorkerState, meanMs: number | undefined, slotsOnly = false): number => {
  const base = slotsOnly ? worker.slots : worker.slots + worker.prefetch
  if (meanMs === undefined || worker.completed < MIN_SAMPLES) return base
  const mine = worker.taskMsTotal / worker.completed
  if (mine - meanMs < MIN_GAP_MS) return base
  if (mine >= 2 * meanMs) return 1
  if (mine >= 1.5 * meanMs) return Math.max(1, Math.ceil(base / 2))
  return base
}

/** Leases a worker can take now: its capacity less what it holds and what is on its way to it. */
export const freeCapacity = (worker: WorkerState, inFlight: InFlight, meanMs: number | undefined, slotsOnly = false): number =>
  capacity(worker, meanMs, slotsOnly) - worker.leases.size - (inFlight.slots.get(worker.workerId) ?? 0)

export type Slot = { readonly workerId: string; readonly kinds: ReadonlyArray<string>; free: number }

/** Whether a worker can run tasks of a kind (it advertised a handler for it when it joined). */
export const canRun = (worker: { readonly kinds: ReadonlyArray<string> }, kind: string): boolean => worker.kinds.includes(kind)

/** Where dealing continues: across passes for round-robin, within a pass for least-loaded ties. */
export type Rotation = { roundRobin: number; lastPicked: number }

/** Picks the slot for the next task under a policy; undefined when every slot is full. */
export const pickSlot = (slots: ReadonlyArray<Slot>, policy: Placement, memory: Rotation, random: () => number): Slot | undefined => {
  const open = slots.filter((s) => s.free > 0)
  if (open.length === 0) return undefined
  switch (policy) {
    case "least-loaded": {
      // The most free capacity; ties go to the next worker after the last pick, so tasks interleave.
      let best: Slot | undefined
      let bestAt = -1
      for (let k = 1; k <= slots.length; k++) {
        const at = (memory.lastPicked + k) % slots.length
        const s = slots[at] as Slot
        if (s.free > 0 && (best === undefined || s.free > best.free)) {
          best = s
          bestAt = at
        }
      }
      memory.lastPicked = bestAt
      return best
    }
    case "round-robin": {
      memory.roundRobin = (memory.roundRobin + 1) % Number.MAX_SAFE_INTEGER
      return open[memory.roundRobin % open.length]
    }
    case "random":
      return open[Math.floor(random() * open.length) % open.length]
  }
}
