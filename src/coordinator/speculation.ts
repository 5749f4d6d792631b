// Speculative execution, in the spirit of Spark's: once a quantile of a job's tasks is done, an attempt
// running much longer than the median task gets a copy on another worker. The first valid result wins;
// the other copy is aborted (AttemptAborted) and its late result is a duplicate. Pure: `now` is passed in.
import { taskInput, taskKind } from "../domain/job-spec.ts"
import { TaskStatus, isFinished, runKey, type ClusterState, type JobState, type WorkerState } from "../projections/state.ts"
import { canRun, freeCapacity } from "./placement.ts"
import { taskKey, type Draft, type InFlight, type LeaseDraft } from "./scheduler.ts"

/** Attempts per task never exceed what the per-task counter holds; copies stop short of it. */
const MAX_ATTEMPTS_FOR_COPIES = 250

export const median = (values: ReadonlyArray<number>): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** How long an attempt of this job may run before it is a straggler; undefined while too few tasks are done. */
export const stragglerThresholdMs = (job: JobState): number | undefined => {
  const { speculation, speculationQuantile, speculationMultiplier, speculationMinMs } = job.spec
  if (!speculation || job.done < Math.max(1, Math.ceil(speculationQuantile * job.count))) return undefined
  const typical = median(job.recentMs)
  return typical === undefined ? undefined : Math.max(speculationMinMs, speculationMultiplier * typical)
}

export const speculativeCopies = (state: ClusterState, inFlight: InFlight, now: number): Draft[] => {
  const drafts: Draft[] = []
  const taken = new Map<string, number>() // copies planned per worker in this call
  for (const jobId of state.activeJobs) {
    const job = state.jobs.get(jobId)
    if (job === undefined || isFinished(job.phase) || job.running.size === 0) continue
    const threshold = stragglerThresholdMs(job)
    if (threshold === undefined) continue
    let copies = inFlight.copies.get(jobId) ?? 0 // copies on their way count too
    for (const run of job.running.values()) if (run.speculative) copies++
    if (copies >= job.spec.maxSpeculative) continue
    const stragglers = [...job.running.values()]
      .filter((run) => now - run.leasedAt > threshold && isLoneAttempt(job, run.index) && !inFlight.keys.has(taskKey(jobId, run.index)))
      .sort((a, b) => a.leasedAt - b.leasedAt)
    for (const run of stragglers) {
      if (copies >= job.spec.maxSpeculative) break
      const attempt = (job.attempts[run.index] ?? 0) + 1
      if (attempt > MAX_ATTEMPTS_FOR_COPIES) continue
      // No worker for this one (each straggler excludes its own worker): the next may still find one.
      const target = pickCopyWorker(state, inFlight, taken, run.workerId, taskKind(job.spec))
      if (target === undefined) continue
      taken.set(target.workerId, (taken.get(target.workerId) ?? 0) + 1)
      const lease: LeaseDraft = {
        jobId,
        index: run.index,
        attempt,
        kind: taskKind(job.spec),
        input: taskInput(job.spec, run.index),
        deadline: now + job.spec.leaseMs,
        speculative: true
      }
      drafts.push({ type: "TaskLeased", workerId: target.workerId, leases: [lease] })
      copies++
    }
  }
  return drafts
}

/** The task is running with exactly one attempt: it has no copy yet. */
const isLoneAttempt = (job: JobState, index: number): boolean => {
  if (job.status[index] !== TaskStatus.Running) return false
  let running = 0
  for (let a = 1; a <= (job.attempts[index] ?? 0); a++) if (job.running.has(runKey(index, a))) running++
  return running === 1
}

/** The live worker, other than the straggler's, with a free slot and the lowest mean task time (unknown: last). */
const pickCopyWorker = (state: ClusterState, inFlight: InFlight, taken: Map<string, number>, exclude: string, kind: string): WorkerState | undefined => {
  let best: WorkerState | undefined
  let bestMean = Number.POSITIVE_INFINITY
  for (const worker of state.workers.values()) {
    if (worker.workerId === exclude || worker.phase !== "live" || inFlight.keys.has(`worker:${worker.workerId}`)) continue
    if (!canRun(worker, kind)) continue
    // A copy must start now: only a free running slot counts, not room in the prefetch queue.
    if (freeCapacity(worker, inFlight, undefined, true) - (taken.get(worker.workerId) ?? 0) <= 0) continue
    const mean = worker.completed === 0 ? Number.MAX_SAFE_INTEGER : worker.taskMsTotal / worker.completed
    if (best === undefined || mean < bestMean) {
      best = worker
      bestMean = mean
    }
  }
  return best
}
