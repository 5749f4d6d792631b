// Retention in the fold: a JobsExpired decision removes finished jobs from the state (and so from the
// digest, `dtq jobs` and snapshots). Only the coordinator decides which and when (src/coordinator/retention.ts),
// so a live coordinator and a replay forget exactly the same jobs at exactly the same point of the log.
import type { EventOf } from "../domain/events.ts"
import { isFinished, type ClusterState } from "./state.ts"

export const jobsExpired = (state: ClusterState, event: EventOf<"JobsExpired">, reject: (reason: string) => void): void => {
  for (const jobId of event.jobIds) {
    const job = state.jobs.get(jobId)
    // Already gone (a decision repeated across a fail-over): nothing to forget twice.
    if (job === undefined) continue
    if (!isFinished(job.phase)) {
      reject(`job ${jobId} is ${job.phase}: only a finished job expires`)
      continue
    }
    state.jobs.delete(jobId)
    state.expiredJobs++
  }
}

/** Compaction: the state only notes where the log's history now begins (replay and plot report it). */
export const logCompacted = (state: ClusterState, event: EventOf<"LogCompacted">): void => {
  if (event.throughSeq > state.compactedThrough) state.compactedThrough = event.throughSeq
}
