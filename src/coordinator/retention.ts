// Retention of finished jobs (what BullMQ's removeOnComplete/removeOnFail and a Temporal namespace's
// retention period give their users): a completed, failed, cancelled or rejected job leaves the live state
// once it is older than its retention, or once more finished jobs than the cluster keeps have ended after
// it. Pure: the coordinator calls it with its clock and records the outcome as JobsExpired.
import { MAX_JOBS_EXPIRED_PER_EVENT } from "../domain/events.ts"
import type { RetentionPolicy } from "../domain/retention-policy.ts"
import { isFinished, type ClusterState, type JobState } from "../projections/state.ts"
import { jobKey, type Draft, type InFlight } from "./scheduler.ts"

const keepMs = (job: JobState, policy: RetentionPolicy): number =>
  job.spec.keepMs ?? policy.maxAgeMs

/**
 * The JobsExpired decisions due at `now`: first every finished job past its age, then (oldest ended first)
 * as many as the count limit demands. Jobs with a decision in flight are left for the next pass.
 */
export const expiredJobs = (state: ClusterState, inFlight: InFlight, now: number, policy: RetentionPolicy): Draft[] => {
  const finished: JobState[] = []
  for (const job of state.jobs.values()) if (isFinished(job.phase) && !inFlight.keys.has(jobKey(job.jobId))) finished.push(job)
  if (finished.length === 0) return []
  const byAge: string[] = []
  const kept: JobState[] = []
  for (const job of finished) {
    if ((job.endedAt ?? job.submittedAt) + keepMs(job, policy) <= now) byAge.push(job.jobId)
    else kept.push(job)
  }
  const drafts: Draft[] = []
  const push = (ids: string[], reason: string) => {
    for (let i = 0; i < ids.length; i += MAX_JOBS_EXPIRED_PER_EVENT) {
      drafts.push({ type: "JobsExpired", jobIds: ids.slice(i, i + MAX_JOBS_EXPIRED_PER_EVENT), reason })
    }
  }
  push(byAge, `ended more than their retention ago (default ${policy.maxAgeMs} ms)`)
  // Count: finished jobs with a decision in flight are (nearly always) expiries on their way: not counted.
  const excess = kept.length - policy.maxJobs
  if (excess > 0) {
    kept.sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0))
    push(kept.slice(0, excess).map((j) => j.jobId), `more than ${policy.maxJobs} finished jobs retained`)
  }
  return drafts
}
