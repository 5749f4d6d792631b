// A deterministic coordinator loop for the unit tests (not a test file itself): the pure decision functions
// (plan, expiredAttempts, speculativeCopies) are called with an explicit `now`, and their drafts are folded
// back as the coordinator's events with that same timestamp. No timers, no sleeping: the clock is a number.
import { InFlight, plan, type Draft, type SchedulerOptions } from "../../src/coordinator/scheduler.ts"
import type { ResolvedSpec } from "../../src/domain/job-spec.ts"
import type { JobState, WorkerState } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"

export const JOB = "j-1"
export const options: SchedulerOptions = { maxLeasesPerEvent: 512, random: () => 0.5, sharing: "fifo" }

export type Leased = Extract<Draft, { type: "TaskLeased" }>
export const leasesOf = (drafts: ReadonlyArray<Draft>): Leased[] => drafts.filter((d): d is Leased => d.type === "TaskLeased")
/** A draft of one type (TaskReclaimed and AttemptAborted share one member of the union, hence not Extract). */
export type DraftOf<T extends Draft["type"]> = Draft & { readonly type: T }
export const ofType = <T extends Draft["type"]>(drafts: ReadonlyArray<Draft>, type: T): Array<DraftOf<T>> =>
  drafts.filter((d): d is DraftOf<T> => d.type === type)

export const indexesByWorker = (drafts: ReadonlyArray<Draft>): Record<string, number[]> => {
  const out: Record<string, number[]> = {}
  for (const d of leasesOf(drafts)) (out[d.workerId] ??= []).push(...d.leases.map((l) => l.index))
  return out
}
export const countsByWorker = (drafts: ReadonlyArray<Draft>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [workerId, indexes] of Object.entries(indexesByWorker(drafts))) out[workerId] = indexes.length
  return out
}

export type WorkerSetup = number | { readonly slots: number; readonly prefetch?: number }

/** Epoch 1 at ts 1000, the given workers (id -> slots), and job JOB submitted and scheduled (unless `queued`). */
export const cluster = (spec: ResolvedSpec, workers: Record<string, WorkerSetup>, queued = false): F.Log => {
  const log = new F.Log().apply(F.coordinatorElected(1, { ts: 1000 }))
  for (const [id, w] of Object.entries(workers)) {
    log.apply(typeof w === "number" ? F.workerJoined(id, w, { ts: 1001 }) : F.workerJoined(id, w.slots, { ts: 1001, prefetch: w.prefetch ?? 0 }))
  }
  log.apply(F.jobSubmitted(JOB, spec, { ts: 1002 }))
  if (!queued) log.apply(F.tasksScheduled(JOB, spec.tasks, { ts: 1003 }))
  return log
}

/** Folds drafts as the coordinator's events, stamped `ts`. */
export const foldDrafts = (log: F.Log, drafts: ReadonlyArray<Draft>, ts: number): void => {
  for (const draft of drafts) log.apply(F.draftEvent(draft, { ts }))
}

/** The coordinator's protocol for a batch of drafts: hold them, fold them, release them. */
export const publish = (log: F.Log, inFlight: InFlight, drafts: ReadonlyArray<Draft>, now: number): Draft[] => {
  const releases = drafts.map((d) => inFlight.hold(d))
  foldDrafts(log, drafts, now)
  for (const release of releases) release()
  return [...drafts]
}

/** plan at `now`, then publish what it decided. */
export const decideAndFold = (log: F.Log, inFlight: InFlight, now: number, opts: SchedulerOptions = options): Draft[] =>
  publish(log, inFlight, plan(log.state, inFlight, now, opts), now)

export const jobOf = (log: F.Log, jobId = JOB): JobState => {
  const found = log.state.jobs.get(jobId)
  if (found === undefined) throw new Error(`no job ${jobId}`)
  return found
}
export const workerOf = (log: F.Log, workerId: string): WorkerState => {
  const found = log.state.workers.get(workerId)
  if (found === undefined) throw new Error(`no worker ${workerId}`)
  return found
}

/** The result a worker sends for attempt (index, attempt) of JOB: the right answer, taking `ms`. */
export const completed = (log: F.Log, workerId: string, index: number, attempt: number, ts: number, ms = 10) =>
  F.taskCompleted(workerId, [{ jobId: JOB, index, attempt, result: F.answer(jobOf(log).spec, index), ms }], { ts })

export const beat = (workerId: string, index: number, attempt: number, progress: number, ts: number) =>
  F.progressBeat(workerId, [{ jobId: JOB, index, attempt, progress }], { ts })

export { InFlight }
