// Which jobs a listing shows (`dtq jobs --state --kind --name --since`, client.jobs(filter)). Pure.
import type { JobView } from "./views.ts"

export const JOB_STATES = ["queued", "running", "completed", "failed", "cancelled", "rejected"] as const

export type JobFilter = {
  /** One end or phase: queued, running, completed, failed, cancelled (rejected: refused by the coordinator). */
  readonly state?: (typeof JOB_STATES)[number]
  /** The job kind (sum, sumsq, task, train, infer) or, for user tasks, the task name. */
  readonly kind?: string
  /** Text the job's name contains (case-insensitive). */
  readonly name?: string
  /** Submitted at or after this time (ms since the epoch). */
  readonly since?: number
}

export const matchesJob = (job: JobView, filter: JobFilter): boolean =>
  (filter.state === undefined || job.state === filter.state) &&
  (filter.kind === undefined || job.kind === filter.kind || job.task === filter.kind) &&
  (filter.name === undefined || (job.name ?? "").toLowerCase().includes(filter.name.toLowerCase())) &&
  (filter.since === undefined || job.submittedAt >= filter.since)

/** A filter from a request body, keeping only well-formed fields (an old client sends none). */
export const jobFilterFrom = (body: Record<string, unknown>): JobFilter => ({
  ...(typeof body.state === "string" && (JOB_STATES as ReadonlyArray<string>).includes(body.state) ? { state: body.state as JobFilter["state"] & string } : {}),
  ...(typeof body.kind === "string" ? { kind: body.kind } : {}),
  ...(typeof body.name === "string" ? { name: body.name } : {}),
  ...(typeof body.since === "number" && Number.isFinite(body.since) ? { since: body.since } : {})
})
