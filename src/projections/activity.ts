// The activity projection: a second, cheap fold that keeps the history the charts need and the cluster
// state drops (ended attempts, departed workers, per-second counts). Pure function of the events, like
// the main fold: no clock, no randomness; it mutates its state in place and allocates only records.
//
// The caller passes only events the main fold accepted (neither set aside nor fenced): this fold does
// not re-validate, so a rejected event fed here would show up in the charts.
import type { DtqEvent } from "../domain/events.ts"
import type { JobPhase } from "./state.ts"

/** Attempt records kept; the oldest go first (see `droppedAttempts`). */
export const ATTEMPTS_KEPT = 50_000
/** Per-second counters kept: the last day. */
export const SECONDS_KEPT = 86_400
/** Errors and reasons are cut to this many characters: the charts show them in tooltips. */
export const TEXT_KEPT = 120

export type AttemptOutcome = "running" | "completed" | "failed" | "reclaimed" | "aborted"

export type AttemptRecord = {
  readonly jobId: string
  readonly index: number
  readonly attempt: number
  readonly workerId: string
  readonly leasedAt: number
  endedAt: number | undefined
  outcome: AttemptOutcome
  readonly speculative: boolean
  readonly retry: boolean
  error: string | undefined // failed
  reason: string | undefined // reclaimed or aborted
}

export type WorkerRecord = {
  readonly workerId: string
  slots: number
  readonly joinedAt: number
  leftAt: number | undefined
  how: "left" | "lost" | undefined
}

export type JobRecord = {
  readonly jobId: string
  readonly kind: string
  readonly name: string | undefined
  readonly submittedAt: number
  endedAt: number | undefined
  state: JobPhase
}

export type SecondCounts = { events: number; tasksCompleted: number; tasksFailed: number; leases: number }

export type ActivityState = {
  readonly attemptsKept: number
  readonly secondsKept: number
  /** A ring in log order: once full, `oldest` is the slot the next record overwrites. */
  readonly attempts: AttemptRecord[]
  oldest: number
  droppedAttempts: number
  /** Key `${jobId}/${index}.${attempt}`: only attempts still in the ring. */
  readonly byKey: Map<string, AttemptRecord>
  // Running attempts by worker and by job: a worker's departure or a job's end ends them without an event each.
  readonly runningByWorker: Map<string, Set<AttemptRecord>>
  readonly runningByJob: Map<string, Set<AttemptRecord>>
  readonly workers: Map<string, WorkerRecord>
  readonly jobs: Map<string, JobRecord>
  /** Key Math.floor(ts / 1000), inserted in (nearly) ascending order. */
  readonly seconds: Map<number, SecondCounts>
  lastSecond: number
  /** Counts of an event older than the window go here and are never shown. */
  readonly discard: SecondCounts
  events: number
  firstTs: number | undefined
  lastTs: number | undefined
}

export const emptyActivity = (options: { attemptsKept?: number; secondsKept?: number } = {}): ActivityState => ({
  attemptsKept: Math.max(1, options.attemptsKept ?? ATTEMPTS_KEPT),
  secondsKept: Math.max(1, options.secondsKept ?? SECONDS_KEPT),
  attempts: [],
  oldest: 0,
  droppedAttempts: 0,
  byKey: new Map(),
  runningByWorker: new Map(),
  runningByJob: new Map(),
  workers: new Map(),
  jobs: new Map(),
  seconds: new Map(),
  lastSecond: -Infinity,
  discard: { events: 0, tasksCompleted: 0, tasksFailed: 0, leases: 0 },
  events: 0,
  firstTs: undefined,
  lastTs: undefined
})

export const attemptKey = (jobId: string, index: number, attempt: number): string => `${jobId}/${index}.${attempt}`

const short = (text: string): string => (text.length > TEXT_KEPT ? `${text.slice(0, TEXT_KEPT - 1)}…` : text)

const isEnded = (state: JobPhase): boolean => state === "completed" || state === "failed" || state === "cancelled" || state === "rejected"

/** Folds one event the main fold accepted; `ts` is the fold's time of it (the stream's stored time). */
export const applyActivity = (a: ActivityState, event: DtqEvent, ts: number = event.ts): void => {
  a.events++
  if (a.firstTs === undefined || ts < a.firstTs) a.firstTs = ts
  if (a.lastTs === undefined || ts > a.lastTs) a.lastTs = ts
  const counts = secondOf(a, Math.floor(ts / 1000))
  counts.events++
  switch (event.type) {
    case "JobSubmitted":
      if (!a.jobs.has(event.jobId)) {
        a.jobs.set(event.jobId, { jobId: event.jobId, kind: event.spec.kind, name: event.spec.name, submittedAt: ts, endedAt: undefined, state: "queued" })
      }
      return
    case "TasksScheduled": {
      const job = a.jobs.get(event.jobId)
      if (job?.state === "queued") job.state = "running"
      return
    }
    case "JobCompleted":
      return endJob(a, event.jobId, "completed", ts)
    case "JobFailed":
      return endJob(a, event.jobId, "failed", ts)
    case "JobCancelled":
      return endJob(a, event.jobId, "cancelled", ts)
    case "JobRejected":
      return endJob(a, event.jobId, "rejected", ts)
    case "TaskLeased":
      for (const lease of event.leases) {
        const job = a.jobs.get(lease.jobId)
        if (job !== undefined && isEnded(job.state)) continue // moot: its job ended meanwhile
        const key = attemptKey(lease.jobId, lease.index, lease.attempt)
        if (a.byKey.has(key)) continue
        if (job?.state === "queued") job.state = "running" // a lease may overtake TasksScheduled
        const record: AttemptRecord = {
          jobId: lease.jobId,
          index: lease.index,
          attempt: lease.attempt,
          workerId: event.workerId,
          leasedAt: ts,
          endedAt: undefined,
          outcome: "running",
          speculative: lease.speculative === true,
          retry: lease.attempt > 1,
          error: undefined,
          reason: undefined
        }
        keep(a, key, record)
        counts.leases++
      }
      return
    case "TaskCompleted":
      for (const result of event.results) {
        const record = runningAttempt(a, result.jobId, result.index, result.attempt, event.workerId)
        if (record === undefined) continue // unknown, dropped, or already ended (a late result changes nothing)
        end(a, record, "completed", ts)
        counts.tasksCompleted++
      }
      return
    case "TaskFailed":
      for (const failure of event.failures) {
        const record = runningAttempt(a, failure.jobId, failure.index, failure.attempt, event.workerId)
        if (record === undefined) continue
        end(a, record, "failed", ts)
        record.error = short(failure.error)
        counts.tasksFailed++
      }
      return
    case "TaskReclaimed":
    case "AttemptAborted": {
      const record = runningAttempt(a, event.jobId, event.index, event.attempt, event.workerId)
      if (record === undefined) return
      end(a, record, event.type === "TaskReclaimed" ? "reclaimed" : "aborted", ts)
      record.reason = short(event.reason)
      return
    }
    case "WorkerJoined": {
      const worker = a.workers.get(event.workerId)
      if (worker === undefined) {
        a.workers.set(event.workerId, { workerId: event.workerId, slots: event.slots, joinedAt: ts, leftAt: undefined, how: undefined })
        return
      }
      // Like the main fold: a restarted process does not hold its predecessor's leases.
      reclaimAll(a, event.workerId, "worker restarted", ts)
      worker.slots = event.slots
      worker.leftAt = undefined
      worker.how = undefined
      return
    }
    case "WorkerLeft":
    case "WorkerLost": {
      const worker = a.workers.get(event.workerId)
      if (worker === undefined || worker.leftAt !== undefined) return // moot: it is gone already
      const how = event.type === "WorkerLeft" ? "left" : "lost"
      reclaimAll(a, event.workerId, `worker ${how}`, ts)
      worker.leftAt = ts
      worker.how = how
      return
    }
    default:
      return
  }
}

/** The counters of second `s`: created on first use; older seconds fall out of the window. */
const secondOf = (a: ActivityState, s: number): SecondCounts => {
  let counts = a.seconds.get(s)
  if (counts !== undefined) return counts
  if (s <= a.lastSecond - a.secondsKept) return a.discard
  counts = { events: 0, tasksCompleted: 0, tasksFailed: 0, leases: 0 }
  a.seconds.set(s, counts)
  if (s > a.lastSecond) {
    a.lastSecond = s
    const cutoff = s - a.secondsKept
    for (const key of a.seconds.keys()) {
      if (key > cutoff && a.seconds.size <= a.secondsKept) break
      a.seconds.delete(key)
    }
  }
  return counts
}

/** Appends a record to the ring, dropping the oldest when it is full. */
const keep = (a: ActivityState, key: string, record: AttemptRecord): void => {
  if (a.attempts.length < a.attemptsKept) a.attempts.push(record)
  else {
    const victim = a.attempts[a.oldest] as AttemptRecord
    const victimKey = attemptKey(victim.jobId, victim.index, victim.attempt)
    if (a.byKey.get(victimKey) === victim) a.byKey.delete(victimKey)
    if (victim.outcome === "running") unlinkRunning(a, victim)
    a.attempts[a.oldest] = record
    a.oldest = (a.oldest + 1) % a.attemptsKept
    a.droppedAttempts++
  }
  a.byKey.set(key, record)
  linkRunning(a.runningByWorker, record.workerId, record)
  linkRunning(a.runningByJob, record.jobId, record)
}

const linkRunning = (map: Map<string, Set<AttemptRecord>>, id: string, record: AttemptRecord): void => {
  let set = map.get(id)
  if (set === undefined) {
    set = new Set()
    map.set(id, set)
  }
  set.add(record)
}

const unlinkRunning = (a: ActivityState, record: AttemptRecord): void => {
  a.runningByWorker.get(record.workerId)?.delete(record)
  a.runningByJob.get(record.jobId)?.delete(record)
}

const runningAttempt = (a: ActivityState, jobId: string, index: number, attempt: number, workerId: string): AttemptRecord | undefined => {
  const record = a.byKey.get(attemptKey(jobId, index, attempt))
  return record !== undefined && record.outcome === "running" && record.workerId === workerId ? record : undefined
}

const end = (a: ActivityState, record: AttemptRecord, outcome: Exclude<AttemptOutcome, "running">, ts: number): void => {
  unlinkRunning(a, record)
  record.outcome = outcome
  record.endedAt = ts
}

/** The main fold reclaims a departed worker's leases without an event per lease. */
const reclaimAll = (a: ActivityState, workerId: string, reason: string, ts: number): void => {
  const running = a.runningByWorker.get(workerId)
  if (running === undefined || running.size === 0) return
  for (const record of [...running]) {
    end(a, record, "reclaimed", ts)
    record.reason = reason
  }
}

/** Workers abort the attempts of a job that ended; no event says so per attempt. */
const endJob = (a: ActivityState, jobId: string, state: JobPhase, ts: number): void => {
  const job = a.jobs.get(jobId)
  if (job === undefined || isEnded(job.state)) return // moot
  job.state = state
  job.endedAt = ts
  const running = a.runningByJob.get(jobId)
  if (running !== undefined) {
    for (const record of [...running]) {
      end(a, record, "aborted", ts)
      record.reason = `job ${state}`
    }
  }
  a.runningByJob.delete(jobId)
}

// ---- the view: plain JSON, sorted, with absent keys omitted (a JSON round trip is the identity) ----

export type AttemptView = {
  readonly jobId: string
  readonly index: number
  readonly attempt: number
  readonly workerId: string
  readonly leasedAt: number
  readonly endedAt?: number
  readonly outcome: AttemptOutcome
  readonly speculative: boolean
  readonly retry: boolean
  readonly error?: string
  readonly reason?: string
}
export type WorkerView = { readonly workerId: string; readonly slots: number; readonly joinedAt: number; readonly leftAt?: number; readonly how?: "left" | "lost" }
export type JobView = { readonly jobId: string; readonly kind: string; readonly name?: string; readonly submittedAt: number; readonly endedAt?: number; readonly state: JobPhase }
export type SecondView = { readonly second: number; readonly events: number; readonly tasksCompleted: number; readonly tasksFailed: number; readonly leases: number }

export type ActivityView = {
  readonly events: number
  readonly firstTs?: number
  readonly lastTs?: number
  readonly droppedAttempts: number
  /** By leasedAt, then jobId, index, attempt. */
  readonly attempts: ReadonlyArray<AttemptView>
  /** By joinedAt, then workerId. */
  readonly workers: ReadonlyArray<WorkerView>
  /** In submission (log) order. */
  readonly jobs: ReadonlyArray<JobView>
  /** Ascending, within the window. */
  readonly seconds: ReadonlyArray<SecondView>
}

/** Code-point order: the same on every machine (localeCompare is not). */
const compare = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0)

export const activityView = (a: ActivityState): ActivityView => {
  const attempts = a.attempts.map(
    (r): AttemptView => ({
      jobId: r.jobId,
      index: r.index,
      attempt: r.attempt,
      workerId: r.workerId,
      leasedAt: r.leasedAt,
      ...(r.endedAt === undefined ? {} : { endedAt: r.endedAt }),
      outcome: r.outcome,
      speculative: r.speculative,
      retry: r.retry,
      ...(r.error === undefined ? {} : { error: r.error }),
      ...(r.reason === undefined ? {} : { reason: r.reason })
    })
  )
  attempts.sort((x, y) => x.leasedAt - y.leasedAt || compare(x.jobId, y.jobId) || x.index - y.index || x.attempt - y.attempt)
  const workers = [...a.workers.values()].map(
    (w): WorkerView => ({
      workerId: w.workerId,
      slots: w.slots,
      joinedAt: w.joinedAt,
      ...(w.leftAt === undefined ? {} : { leftAt: w.leftAt }),
      ...(w.how === undefined ? {} : { how: w.how })
    })
  )
  workers.sort((x, y) => x.joinedAt - y.joinedAt || compare(x.workerId, y.workerId))
  const jobs = [...a.jobs.values()].map(
    (j): JobView => ({
      jobId: j.jobId,
      kind: j.kind,
      ...(j.name === undefined ? {} : { name: j.name }),
      submittedAt: j.submittedAt,
      ...(j.endedAt === undefined ? {} : { endedAt: j.endedAt }),
      state: j.state
    })
  )
  const cutoff = a.lastSecond - a.secondsKept
  const seconds: SecondView[] = []
  for (const [second, c] of a.seconds) {
    if (second > cutoff) seconds.push({ second, events: c.events, tasksCompleted: c.tasksCompleted, tasksFailed: c.tasksFailed, leases: c.leases })
  }
  seconds.sort((x, y) => x.second - y.second)
  return {
    events: a.events,
    ...(a.firstTs === undefined ? {} : { firstTs: a.firstTs }),
    ...(a.lastTs === undefined ? {} : { lastTs: a.lastTs }),
    droppedAttempts: a.droppedAttempts,
    attempts,
    workers,
    jobs,
    seconds
  }
}
