// Reclaiming attempts that can no longer be trusted to finish: a lease that was not renewed by a beat
// (leaseMs), progress that stopped advancing (stallMs: a stuck handler, even on a live worker), or an
// attempt over its time cap (maxTaskMs). Pure: `now` is passed in, so it is tested with any clock.
import { isFinished, type ClusterState } from "../projections/state.ts"
import { attemptKey, type Draft, type InFlight } from "./scheduler.ts"

/**
 * `graceSince`: when this coordinator began to lead or last reconnected. Nobody could write beats while
 * it (or the server) was away, so every lease gets a fresh leaseMs (and stallMs) from then on.
 */
export const expiredAttempts = (state: ClusterState, inFlight: InFlight, now: number, graceSince: number): Draft[] => {
  const drafts: Draft[] = []
  for (const jobId of state.activeJobs) {
    const job = state.jobs.get(jobId)
    if (job === undefined || isFinished(job.phase) || job.running.size === 0) continue
    const { leaseMs, stallMs, maxTaskMs } = job.spec
    for (const [key, run] of job.running) {
      if (job.superseded.has(key) || inFlight.keys.has(attemptKey(jobId, run.index, run.attempt))) continue
      if (inFlight.keys.has(`worker:${run.workerId}`)) continue // WorkerLost on its way reclaims it
      let reason: string | undefined
      if (now - run.leasedAt > maxTaskMs) reason = `ran ${now - run.leasedAt} ms, over maxTaskMs ${maxTaskMs}`
      else if (now > Math.max(run.deadline, graceSince + leaseMs)) reason = `lease expired: no beat for ${now - Math.max(run.deadline - leaseMs, graceSince)} ms`
      else if (now - Math.max(run.progressAt, graceSince) > stallMs) reason = `stalled: no progress for ${now - Math.max(run.progressAt, graceSince)} ms`
      if (reason !== undefined) {
        drafts.push({ type: "TaskReclaimed", workerId: run.workerId, jobId, index: run.index, attempt: run.attempt, reason })
      }
    }
  }
  return drafts
}
