// `dtq errors [JOB]`: the distinct task errors in the log, with how often each happened and the attempts
// that hit it. Pure: fed the TaskFailed events in log order.
import type { DtqEvent } from "../domain/events.ts"

type TaskFailedEvent = Extract<DtqEvent, { type: "TaskFailed" }>

export type ErrorAttempt = { readonly jobId: string; readonly index: number; readonly attempt: number; readonly workerId: string; readonly at: number }

export type ErrorGroup = {
  readonly error: string
  readonly retryable: boolean
  readonly count: number
  readonly jobs: ReadonlyArray<string>
  readonly firstAt: number
  readonly lastAt: number
  /** The attempts that hit it, oldest first (at most ATTEMPTS_LISTED; `count` has them all). */
  readonly attempts: ReadonlyArray<ErrorAttempt>
}

export const ATTEMPTS_LISTED = 20

export class ErrorTally {
  readonly #groups = new Map<string, { error: string; retryable: boolean; count: number; jobs: Set<string>; firstAt: number; lastAt: number; attempts: ErrorAttempt[] }>()
  readonly #jobId: string | undefined

  /** Counts only errors of `jobId` when given. */
  constructor(jobId?: string) {
    this.#jobId = jobId
  }

  add(event: TaskFailedEvent): void {
    for (const f of event.failures) {
      if (this.#jobId !== undefined && f.jobId !== this.#jobId) continue
      // Grouped by message and kind: the same text retryable and not is two different errors.
      const key = `${f.retryable ? "r" : "n"}:${f.error}`
      let group = this.#groups.get(key)
      if (group === undefined) {
        group = { error: f.error, retryable: f.retryable, count: 0, jobs: new Set(), firstAt: event.ts, lastAt: event.ts, attempts: [] }
        this.#groups.set(key, group)
      }
      group.count++
      group.jobs.add(f.jobId)
      group.lastAt = event.ts
      if (group.attempts.length < ATTEMPTS_LISTED) group.attempts.push({ jobId: f.jobId, index: f.index, attempt: f.attempt, workerId: event.workerId, at: event.ts })
    }
  }

  /** The groups, most frequent first (ties: the most recent first). */
  view(): ErrorGroup[] {
    return [...this.#groups.values()]
      .map((g) => ({ ...g, jobs: [...g.jobs] }))
      .sort((a, b) => b.count - a.count || b.lastAt - a.lastAt)
  }
}
