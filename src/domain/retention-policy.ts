// The cluster's retention of finished jobs: the type, its defaults and its validator together.
// `dtq coordinator --retain-ms MS --retain-jobs N`; a job's own `keepMs` overrides the age for it.

export type RetentionPolicy = {
  /** A finished job stays in the live state this long after it ended (a job's own `keepMs` overrides it). Default 1 day. */
  readonly maxAgeMs: number
  /** At most this many finished jobs stay, the most recently ended; 0 keeps none. Default 1,000. */
  readonly maxJobs: number
}

export const DEFAULT_RETENTION: RetentionPolicy = { maxAgeMs: 86_400_000, maxJobs: 1000 }

/** Names the field that is wrong, or undefined. */
export const retentionProblem = (policy: RetentionPolicy): string | undefined => {
  if (!Number.isInteger(policy.maxAgeMs) || policy.maxAgeMs < 0) return `maxAgeMs: ${policy.maxAgeMs} is not a whole number of ms >= 0`
  if (!Number.isInteger(policy.maxJobs) || policy.maxJobs < 0) return `maxJobs: ${policy.maxJobs} is not a whole number >= 0`
  return undefined
}
