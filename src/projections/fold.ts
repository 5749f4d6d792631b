// The fold: (state, event) -> state, in log order. Deterministic: time is when the stream stored the event
// (stored.ts), set as `state.now` (never going back) before any handler runs; the writer's own `ts` is
// for display and skew only.
// An event that is impossible given the state (a result for an attempt never leased, a decision of a
// deposed epoch, a forged or malformed event) is *set aside* with its reason and changes nothing else.
// A decision overtaken by facts that landed first (a retry of a task that a late result just finished,
// a lease for a job that just ended) is *moot*: a no-op, not an error. Concurrency makes those normal.
import type { DtqEvent, EventOf } from "../domain/events.ts"
import { parseInteger } from "../domain/range-sum.ts"
import {
  RECENT_DURATIONS,
  RECENT_REJECTED_LIMIT,
  TaskStatus,
  isFinished,
  leaseKey,
  runKey,
  type ClusterState,
  type JobState,
  type Run,
  type WorkerState
} from "./state.ts"
import * as T from "./training.ts"
import * as I from "./inference.ts"
import { emptyRateWindow, recordRate } from "./rates.ts"
import type { ResolvedInferSpec, ResolvedTrainSpec } from "../domain/job-spec.ts"
import { batchResultProblem, classesOf, type BatchResult } from "../domain/infer-spec.ts"
import { storedMs, storedOf, type Stored } from "./stored.ts"
import { noteWriterClock } from "./clock-skew.ts"
import { jobsExpired, logCompacted } from "./retention.ts"

/** Records an event (or part of one) that was not applied, and why. */
export const reject = (state: ClusterState, seq: number, reason: string): void => {
  state.rejectedCount++
  state.recentRejected.push({ seq, reason })
  if (state.recentRejected.length > RECENT_REJECTED_LIMIT) state.recentRejected.shift()
}

/** Folds a message that could not even be decoded. */
export const applyUndecodable = (state: ClusterState, seq: number, reason: string): void => {
  state.seq = seq
  reject(state, seq, reason)
}

/**
 * Folds one decoded event as the stream stored it (`at`: its sequence and stored time; a bare sequence
 * for a synthetic log without times, whose events' own `ts` then stands in).
 */
export const applyEvent = (state: ClusterState, at: number | Stored, event: DtqEvent): void => {
  const stored = storedOf(at)
  const seq = stored.seq
  state.seq = seq
  // The one clock of the fold. Clamped: a new stream leader whose clock is behind its predecessor's must
  // not move time backwards (the fold's time stands still until the new leader's clock catches up).
  // A synthetic log (no stored times) keeps each event's own `ts`, as written.
  const time = storedMs(stored)
  const storedTime = time ?? event.ts
  if (storedTime > state.lastTs) state.lastTs = storedTime
  state.now = time === undefined ? event.ts : state.lastTs
  const now = state.now
  if (time !== undefined) noteWriterClock(state, event, time)
  // Decisions are fenced by the coordinator's term (a worker's GradientReported has a training epoch instead).
  if (event.writer.role === "coordinator" && "epoch" in event && event.type !== "CoordinatorElected" && event.epoch !== state.epoch) {
    state.fencedCount++
    reject(state, seq, `${event.type} fenced: epoch ${event.epoch} is not the current epoch ${state.epoch}`)
    return
  }
  const r = (reason: string) => reject(state, seq, `${event.type}: ${reason}`)
  // A term claim is valid only as exactly the next epoch: a forged jump (2^53-1, current+5) can neither
  // push epochs out of the safe integers nor fence the real leader's next claim.
  if (event.type === "CoordinatorElected" && event.epoch !== state.epoch + 1) {
    if (event.epoch <= state.epoch) {
      state.fencedCount++
      return r(`epoch ${event.epoch} is not newer than the current epoch ${state.epoch}`)
    }
    return r(`epoch ${event.epoch} is not the next epoch ${state.epoch + 1}`)
  }
  state.eventsApplied++
  switch (event.type) {
    case "CoordinatorElected":
      return coordinatorElected(state, event)
    case "CoordinatorStarted":
      return // a fact for the record (who ran when); the term changes only with CoordinatorElected
    case "JobSubmitted":
      return jobSubmitted(state, event, r)
    case "JobCancelRequested":
      return withJob(state, event.jobId, r, (job) => {
        if (isFinished(job.phase)) return r(`job ${job.jobId} already ${job.phase}`)
        job.cancelRequested = event.reason ?? "cancelled by request"
      })
    case "BatchSizeRequested":
      return withInference(state, event.jobId, r, (_job, _spec, inf) => {
        inf.batchSizeRequested = event.batchSize
      })
    case "BatchSizeChanged":
      return withInference(state, event.jobId, r, (job, spec, inf) => batchSizeChanged(job, spec, inf, event, r))
    case "PredictionsStored":
      return withInference(state, event.jobId, r, (job, _spec, inf) => {
        if (job.done !== job.count) return r(`job ${job.jobId} has ${job.done} of ${job.count} batches`)
        if (inf.stored !== undefined) return r(`the predictions of ${job.jobId} were already stored`)
        const { type: _t, id: _i, v: _v, writer: _w, epoch: _e, jobId: _j, ...stored } = event
        inf.stored = stored
      })
    case "SharesAllocated":
      state.allocation = {
        at: now,
        capacity: event.capacity,
        reason: event.reason,
        quotas: new Map(event.jobs.map((j) => [j.jobId, j.quota])),
        jobs: event.jobs.map((j) => ({ ...j }))
      }
      return
    case "JobsExpired":
      return jobsExpired(state, event, r)
    case "LogCompacted":
      return logCompacted(state, event)
    case "TasksScheduled":
      return withJob(state, event.jobId, r, (job) => (isFinished(job.phase) ? undefined : tasksScheduled(job, event, now, r)))
    case "JobRejected":
      return withJob(state, event.jobId, r, (job) => {
        if (isFinished(job.phase)) return // moot
        if (job.phase !== "queued") return r(`job ${job.jobId} is ${job.phase}, not queued`)
        endJob(state, job, "rejected", now)
        job.reason = event.reason
      })
    case "TaskLeased":
      return taskLeased(state, event, r)
    case "ProgressBeat":
      return progressBeat(state, event)
    case "TaskCompleted":
      return taskCompleted(state, event, r)
    case "TaskFailed":
      return taskFailed(state, event, r)
    case "RetryScheduled":
      return withJob(state, event.jobId, r, (job) => {
        const pending = job.needsDecision.get(event.index)
        if (job.phase !== "running" || pending === undefined || pending.attempt !== event.attempt) {
          // Finished, or retried by a lease meanwhile: moot. An attempt that never existed is refused.
          if (isFinished(job.phase) || (event.index < job.count && event.attempt <= (job.attempts[event.index] ?? 0))) return
          return r(`task ${event.index} attempt ${event.attempt} of ${job.jobId} is not awaiting a decision`)
        }
        job.needsDecision.delete(event.index)
        job.status[event.index] = TaskStatus.Pending
        job.retryAt.set(event.index, event.notBefore)
      })
    case "TaskReclaimed":
      return withJob(state, event.jobId, r, (job) => {
        const run = job.running.get(runKey(event.index, event.attempt))
        // Decided while the attempt's result was on its way: moot, not wrong.
        if (run === undefined && isPastAttempt(job, event.index, event.attempt)) return
        if (run === undefined || run.workerId !== event.workerId) {
          return r(`task ${event.index} attempt ${event.attempt} of ${job.jobId} is not running on ${event.workerId}`)
        }
        releaseRun(state, job, run, true)
        failAttempt(job, run.index, run.attempt, `reclaimed: ${event.reason}`, true)
      })
    case "AttemptAborted":
      return withJob(state, event.jobId, r, (job) => {
        const run = job.running.get(runKey(event.index, event.attempt))
        if (run === undefined && isPastAttempt(job, event.index, event.attempt)) return // it ended meanwhile: moot
        if (run === undefined || run.workerId !== event.workerId) {
          return r(`task ${event.index} attempt ${event.attempt} of ${job.jobId} is not running on ${event.workerId}`)
        }
        releaseRun(state, job, run, false)
        // An aborted copy of an unfinished task (its sibling failed meanwhile) must not strand the task.
        if (job.status[run.index] === TaskStatus.Running) failAttempt(job, run.index, run.attempt, `aborted: ${event.reason}`, true)
      })
    case "JobCompleted":
      return withJob(state, event.jobId, r, (job) => {
        if (isFinished(job.phase)) return // moot
        if (job.phase !== "running" || job.done !== job.count) return r(`job ${job.jobId} is not complete (${job.done}/${job.count} tasks)`)
        endJob(state, job, "completed", now)
        job.result = event.result
      })
    case "JobFailed":
      return withJob(state, event.jobId, r, (job) => {
        if (isFinished(job.phase)) return // moot: it ended meanwhile
        endJob(state, job, "failed", now)
        job.reason = event.reason
        if (event.task !== undefined) job.failedTask = { ...event.task }
      })
    case "JobCancelled":
      return withJob(state, event.jobId, r, (job) => {
        if (isFinished(job.phase)) return // moot: it ended meanwhile
        endJob(state, job, "cancelled", now)
        job.reason = event.reason
      })
    case "GradientReported":
      return gradientReported(state, event, r)
    case "ModelUpdated":
      return withTraining(state, event.jobId, r, (job, spec, t) => {
        const problem = T.modelUpdateProblem(spec, t, event)
        if (problem !== undefined) return r(`job ${job.jobId}: ${problem}`)
        T.modelUpdated(spec, t, event, now)
      })
    case "GradientDropped":
      return withTraining(state, event.jobId, r, (_job, spec, t) => T.gradientDropped(spec, t, event, now))
    case "EpochCompleted":
      return withTraining(state, event.jobId, r, (job, spec, t) => {
        const problem = T.epochProblem(t, event)
        if (problem !== undefined) return r(`job ${job.jobId}: ${problem}`)
        T.epochCompleted(spec, t, event, now)
      })
    case "EarlyStopped":
      return withTraining(state, event.jobId, r, (job, _spec, t) => {
        if (t.stopped !== undefined) return r(`job ${job.jobId} has already stopped early`)
        t.stopped = { epoch: event.trainingEpoch, bestEpoch: event.bestEpoch, bestVersion: event.bestVersion, reason: event.reason }
      })
    case "TrainingFinished":
      return withTraining(state, event.jobId, r, (job, _spec, t) => {
        if (t.finished !== undefined) return r(`training of ${job.jobId} has already finished`)
        const { type: _t, id: _i, v: _v, writer: _w, epoch: _e, jobId: _j, ...finished } = event
        t.finished = finished
        t.pending.clear()
      })
    case "WorkerJoined":
      workerJoined(state, event)
      if (time !== undefined) noteWriterClock(state, event, time) // a new worker's first offset
      return
    case "WorkerDraining":
      return withWorker(state, event.workerId, r, (worker) => {
        if (worker.phase !== "live") return r(`worker ${worker.workerId} is ${worker.phase}, not live`)
        worker.phase = "draining"
        worker.lastEventAt = now
      })
    case "WorkerLeft":
      return withWorker(state, event.workerId, r, (worker) => workerGone(state, worker, "left", now))
    case "WorkerLost":
      return withWorker(state, event.workerId, r, (worker) => {
        if (worker.phase !== "live" && worker.phase !== "draining") return // moot: it left meanwhile
        workerGone(state, worker, "lost", now)
      })
  }
}

type Reject = (reason: string) => void

/** An attempt that was leased and has since ended (reported, reclaimed or aborted). */
const isPastAttempt = (job: JobState, index: number, attempt: number): boolean =>
  index < job.count && attempt <= (job.attempts[index] ?? 0) && !job.running.has(runKey(index, attempt))

const withJob = (state: ClusterState, jobId: string, r: Reject, f: (job: JobState) => void): void => {
  const job = state.jobs.get(jobId)
  if (job === undefined) return r(`unknown job ${jobId}`)
  f(job)
}

/** A decision about a running training job (moot once the job has ended). */
const withTraining = (
  state: ClusterState,
  jobId: string,
  r: Reject,
  f: (job: JobState, spec: ResolvedTrainSpec, training: T.TrainingState) => void
): void =>
  withJob(state, jobId, r, (job) => {
    if (job.training === undefined || job.spec.kind !== "train") return r(`job ${jobId} is a ${job.spec.kind} job, not a training job`)
    if (isFinished(job.phase)) return // moot: it ended meanwhile
    if (job.phase !== "running") return r(`job ${jobId} is ${job.phase}, not running`)
    f(job, job.spec, job.training)
  })

/** A share's gradient: from the worker that holds the share, on a published version. */
const gradientReported = (state: ClusterState, event: EventOf<"GradientReported">, r: Reject): void => {
  const reporter = state.workers.get(event.workerId)
  if (reporter !== undefined) reporter.lastEventAt = state.now
  withTraining(state, event.jobId, r, (job, spec, t) => {
    if (event.index >= job.count) return r(`job ${job.jobId} has ${job.count} shares, not ${event.index + 1}`)
    const { run, workerId } = attemptHolder(job, event.index, event.attempt)
    if (workerId !== event.workerId) {
      return r(`gradient of share ${event.index} attempt ${event.attempt} of ${job.jobId} from ${event.workerId}, which does not hold it`)
    }
    const problem = T.gradientProblem(spec, t, event)
    if (problem !== undefined) return r(`job ${job.jobId}: ${problem}`)
    if (run !== undefined) {
      run.progressAt = state.now // a gradient is progress: the share is alive and working
      run.deadline = Math.max(run.deadline, state.now + job.spec.leaseMs)
    }
    if (T.isMoot(spec, t, event)) return
    T.gradientReported(spec, t, event, state.now)
  })
}

/** A request or decision about an inference job (moot once the job has ended). */
const withInference = (
  state: ClusterState,
  jobId: string,
  r: Reject,
  f: (job: JobState, spec: ResolvedInferSpec, inference: I.InferenceState) => void
): void =>
  withJob(state, jobId, r, (job) => {
    if (job.inference === undefined || job.spec.kind !== "infer") return r(`job ${jobId} is a ${job.spec.kind} job, not an inference job`)
    if (isFinished(job.phase)) return // moot: it ended meanwhile
    f(job, job.spec, job.inference)
  })

/** New batch boundaries from a task on: the job's per-task arrays grow or shrink to the new count. */
const batchSizeChanged = (job: JobState, spec: ResolvedInferSpec, inf: I.InferenceState, event: EventOf<"BatchSizeChanged">, r: Reject): void => {
  const problem = I.batchChangeProblem(spec, inf, event, job.attempts, job.count)
  if (problem !== undefined) return r(`job ${job.jobId}: ${problem}`)
  inf.batchSizeRequested = undefined
  inf.segments.push({ firstTask: event.fromTask, firstRow: event.fromRow, batchSize: event.batchSize })
  job.count = event.count
  if (job.status.length > 0) {
    job.status = resized(job.status, event.count)
    job.attempts = resized(job.attempts, event.count)
  }
  if (job.outputs !== undefined) job.outputs.length = event.count
  for (let i = event.fromTask; i < event.count; i++) if (job.outputs !== undefined) job.outputs[i] = null
  if (job.cursor > event.count) job.cursor = event.count
}

const resized = (array: Uint8Array, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  out.set(array.subarray(0, Math.min(length, array.length)))
  return out
}

const withWorker = (state: ClusterState, workerId: string, r: Reject, f: (worker: WorkerState) => void): void => {
  const worker = state.workers.get(workerId)
  if (worker === undefined) return r(`unknown worker ${workerId}`)
  f(worker)
}

const coordinatorElected = (state: ClusterState, event: EventOf<"CoordinatorElected">): void => {
  state.epoch = event.epoch
  state.leaderId = event.writer.id
  state.leaderSince = state.now
}

const jobSubmitted = (state: ClusterState, event: EventOf<"JobSubmitted">, r: Reject): void => {
  if (state.jobs.has(event.jobId)) return r(`job ${event.jobId} was already submitted`)
  if (event.spec.kind === "task" && event.spec.inputs.length !== event.spec.tasks) {
    return r(`job ${event.jobId} has ${event.spec.inputs.length} inputs but ${event.spec.tasks} tasks`)
  }
  if (event.spec.kind === "infer" && event.spec.tasks !== Math.ceil(event.spec.data.rows / event.spec.batchSize)) {
    return r(`job ${event.jobId} has ${event.spec.data.rows} rows in batches of ${event.spec.batchSize}, not ${event.spec.tasks} tasks`)
  }
  state.activeJobs.add(event.jobId)
  state.jobs.set(event.jobId, {
    jobId: event.jobId,
    spec: event.spec,
    submittedAt: state.now,
    submittedSeq: state.seq,
    submittedBy: event.writer.id,
    phase: "queued",
    count: event.spec.tasks,
    done: 0,
    duplicates: 0,
    failures: 0,
    status: EMPTY,
    attempts: EMPTY,
    cursor: 0,
    running: new Map(),
    superseded: new Set(),
    orphans: new Map(),
    retryAt: new Map(),
    needsDecision: new Map(),
    lastError: new Map(),
    sum: 0n,
    outputs: event.spec.kind === "task" || event.spec.kind === "infer" ? new Array<unknown>(event.spec.tasks).fill(null) : undefined,
    lastLeasedAt: undefined,
    cancelRequested: undefined,
    startedAt: undefined,
    endedAt: undefined,
    result: undefined,
    reason: undefined,
    failedTask: undefined,
    taskMsTotal: 0,
    recentMs: [],
    recentMsNext: 0,
    training: event.spec.kind === "train" ? T.newTrainingState(event.spec) : undefined,
    inference: event.spec.kind === "infer" ? I.newInferenceState(event.spec) : undefined,
    rates: emptyRateWindow()
  })
}

const EMPTY = new Uint8Array(0)

const tasksScheduled = (job: JobState, event: EventOf<"TasksScheduled">, now: number, r: Reject): void => {
  if (event.count !== job.count) return r(`job ${job.jobId} has ${job.count} tasks, not ${event.count}`)
  // Started already by one of its leases, which overtook it (its publish was retried): moot.
  if (job.phase === "running") return
  if (job.phase !== "queued") return r(`job ${job.jobId} is ${job.phase}, not queued`)
  startJob(job, now)
}

const startJob = (job: JobState, ts: number): void => {
  job.phase = "running"
  job.startedAt = ts
  job.status = new Uint8Array(job.count)
  job.attempts = new Uint8Array(job.count)
}

const taskLeased = (state: ClusterState, event: EventOf<"TaskLeased">, r: Reject): void => {
  const worker = state.workers.get(event.workerId)
  if (worker === undefined || worker.phase !== "live") return r(`worker ${event.workerId} is ${worker?.phase ?? "unknown"}, not live`)
  for (const lease of event.leases) {
    const job = state.jobs.get(lease.jobId)
    if (job !== undefined && isFinished(job.phase)) {
      noteMootAttempt(job, lease.index, lease.attempt) // moot: the job ended meanwhile
      continue
    }
    // The coordinator leases a job's first tasks in the pass that schedules it, right behind its
    // TasksScheduled; should the lease land first (a retried publish), it starts the job itself.
    if (job?.phase === "queued" && lease.index < job.count && lease.attempt === 1) startJob(job, state.now)
    if (job === undefined || job.phase !== "running") {
      r(`task ${lease.index} of ${lease.jobId}: job is ${job?.phase ?? "unknown"}`)
      continue
    }
    if (lease.index >= job.count) {
      r(`task ${lease.index} of ${job.jobId}: the job has ${job.count} tasks`)
      continue
    }
    const status = job.status[lease.index]
    if (status === TaskStatus.Done || status === TaskStatus.Dead) {
      noteMootAttempt(job, lease.index, lease.attempt) // moot: it finished meanwhile
      continue
    }
    if (lease.attempt !== (job.attempts[lease.index] ?? 0) + 1) {
      r(`task ${lease.index} of ${job.jobId}: attempt ${lease.attempt} is not the next attempt`)
      continue
    }
    // A lease of a task awaiting a decision (a copy whose original failed meanwhile) is its retry.
    job.needsDecision.delete(lease.index)
    job.attempts[lease.index] = lease.attempt
    job.status[lease.index] = TaskStatus.Running
    job.retryAt.delete(lease.index)
    const run: Run = {
      index: lease.index,
      attempt: lease.attempt,
      workerId: worker.workerId,
      leasedAt: state.now,
      speculative: lease.speculative === true,
      deadline: lease.deadline,
      progress: 0,
      progressAt: state.now
    }
    job.running.set(runKey(lease.index, lease.attempt), run)
    job.lastLeasedAt = state.now
    worker.leases.add(leaseKey(job.jobId, lease.index, lease.attempt))
    worker.assigned++
    while (job.cursor < job.count && job.attempts[job.cursor] !== 0) job.cursor++
  }
}

/**
 * A moot lease still reached its worker (workers read leases from the log), which may run it and
 * report: its attempt is counted, so that late result is a duplicate, not a result "never leased".
 */
const noteMootAttempt = (job: JobState, index: number, attempt: number): void => {
  if (index < job.attempts.length && attempt === (job.attempts[index] ?? 0) + 1) job.attempts[index] = attempt
}

const progressBeat = (state: ClusterState, event: EventOf<"ProgressBeat">): void => {
  const worker = state.workers.get(event.workerId)
  if (worker !== undefined) worker.lastEventAt = state.now
  for (const beat of event.beats) {
    const job = state.jobs.get(beat.jobId)
    const run = job?.running.get(runKey(beat.index, beat.attempt))
    // Beats are observations: a late or stray one is harmless and simply not applied.
    if (job === undefined || run === undefined || run.workerId !== event.workerId) continue
    // A beat renews the lease: it lasts leaseMs past the last sign of life.
    run.deadline = Math.max(run.deadline, state.now + job.spec.leaseMs)
    if (beat.progress > run.progress) {
      run.progress = beat.progress
      run.progressAt = state.now
    }
  }
}

/** Finds who may report attempt (index, attempt) of a job: the lease holder, or the holder of a reclaimed attempt. */
const attemptHolder = (job: JobState, index: number, attempt: number): { run: Run | undefined; workerId: string | undefined } => {
  const run = job.running.get(runKey(index, attempt))
  if (run !== undefined) return { run, workerId: run.workerId }
  return { run: undefined, workerId: job.orphans.get(runKey(index, attempt)) }
}

const taskCompleted = (state: ClusterState, event: EventOf<"TaskCompleted">, r: Reject): void => {
  const reporter = state.workers.get(event.workerId)
  if (reporter !== undefined) reporter.lastEventAt = state.now
  for (const result of event.results) {
    const job = state.jobs.get(result.jobId)
    if (job === undefined) {
      r(`result for unknown job ${result.jobId}`)
      continue
    }
    const where = `task ${result.index} attempt ${result.attempt} of ${job.jobId}`
    if (job.status.length === 0 || result.index >= job.count || result.attempt > (job.attempts[result.index] ?? 0)) {
      r(`result for ${where}, which was never leased`)
      continue
    }
    const { run, workerId } = attemptHolder(job, result.index, result.attempt)
    if (run !== undefined && workerId !== event.workerId) {
      r(`result for ${where} from ${event.workerId}, but it is leased to ${workerId}`)
      continue
    }
    if (job.training !== undefined && job.training.finished === undefined && !isFinished(job.phase)) {
      r(`result for ${where}: a training share ends only when the training has finished`)
      continue
    }
    if (job.status[result.index] === TaskStatus.Done || isFinished(job.phase)) {
      if (run !== undefined) releaseRun(state, job, run, false)
      job.duplicates++
      state.duplicateResults++
      continue
    }
    if (run === undefined && workerId !== event.workerId) {
      r(`result for ${where} from ${event.workerId}, which does not hold it`)
      continue
    }
    // Only sum jobs add their results up; a task job keeps outputs, a training share returns nothing.
    const value = job.outputs === undefined && job.training === undefined ? resultValue(result.result) : 0n
    const batch = job.inference === undefined ? undefined : inferenceRows(job, result.index)
    const malformed = value === undefined ? "is not a decimal integer string" : batch === undefined ? undefined : batchProblem(job, batch, result.result)
    if (malformed !== undefined) {
      // A malformed result is set aside, and its attempt fails: the task is retried, never stranded.
      r(`result for ${where} ${malformed}`)
      if (run !== undefined) releaseRun(state, job, run, false)
      else job.orphans.delete(runKey(result.index, result.attempt))
      failAttempt(job, result.index, result.attempt, "the worker returned a malformed result", true)
      continue
    }
    if (run !== undefined) releaseRun(state, job, run, false)
    job.sum += value as bigint
    if (batch !== undefined && job.inference !== undefined) {
      const accepted = result.result as BatchResult
      I.addBatch(job.inference, batch, accepted)
      if (job.outputs !== undefined) job.outputs[result.index] = accepted.predictions
    } else if (job.outputs !== undefined) job.outputs[result.index] = result.result ?? null
    recordRate(job.rates, state.now, batch === undefined ? 1 : batch.to - batch.from, result.ms)
    job.status[result.index] = TaskStatus.Done
    recordDuration(job, result.ms)
    // Copies of this task still running are no longer wanted.
    for (let a = 1; a <= (job.attempts[result.index] ?? 0); a++) {
      if (job.running.has(runKey(result.index, a))) job.superseded.add(runKey(result.index, a))
    }
    job.done++
    job.taskMsTotal += result.ms
    job.retryAt.delete(result.index)
    job.needsDecision.delete(result.index)
    clearOrphans(job, result.index)
    if (reporter !== undefined) {
      reporter.completed++
      reporter.taskMsTotal += result.ms
    }
  }
}

const taskFailed = (state: ClusterState, event: EventOf<"TaskFailed">, r: Reject): void => {
  const reporter = state.workers.get(event.workerId)
  if (reporter !== undefined) reporter.lastEventAt = state.now
  for (const failure of event.failures) {
    const job = state.jobs.get(failure.jobId)
    if (job === undefined) {
      r(`failure for unknown job ${failure.jobId}`)
      continue
    }
    const where = `task ${failure.index} attempt ${failure.attempt} of ${job.jobId}`
    const { run, workerId } = attemptHolder(job, failure.index, failure.attempt)
    if (workerId === undefined) {
      // A failure of an attempt that was reclaimed and retried, or of a job that has ended: nothing to undo.
      if (failure.attempt > (job.attempts[failure.index] ?? 0)) r(`failure for ${where}, which was never leased`)
      continue
    }
    if (workerId !== event.workerId) {
      r(`failure for ${where} from ${event.workerId}, but it is held by ${workerId}`)
      continue
    }
    if (run !== undefined) releaseRun(state, job, run, false)
    else job.orphans.delete(runKey(failure.index, failure.attempt))
    if (reporter !== undefined) reporter.failed++
    if (job.status[failure.index] === TaskStatus.Done || isFinished(job.phase)) continue
    failAttempt(job, failure.index, failure.attempt, failure.error, failure.retryable)
  }
}

const inferenceRows = (job: JobState, index: number): { from: number; to: number } | undefined =>
  job.spec.kind === "infer" && job.inference !== undefined ? I.rowsOfTask(job.spec, job.inference, index) : undefined

const batchProblem = (job: JobState, rows: { from: number; to: number }, result: unknown): string | undefined => {
  if (job.spec.kind !== "infer") return undefined
  const problem = batchResultProblem(result, rows, job.spec.labeled ? classesOf(job.spec.trained) : undefined)
  return problem === undefined ? undefined : `is malformed: ${problem}`
}

const recordDuration = (job: JobState, ms: number): void => {
  if (job.recentMs.length < RECENT_DURATIONS) job.recentMs.push(ms)
  else job.recentMs[job.recentMsNext] = ms
  job.recentMsNext = (job.recentMsNext + 1) % RECENT_DURATIONS
}

/** The value a result adds to its (sum) job; undefined when malformed. */
const resultValue = (result: unknown): bigint | undefined =>
  typeof result === "string" ? parseInteger(result) : undefined

/** An attempt ended without a result: if no other attempt of the task is running, the coordinator must decide. */
const failAttempt = (job: JobState, index: number, attempt: number, error: string, retryable: boolean): void => {
  job.failures++
  job.lastError.set(index, error)
  if (job.status[index] !== TaskStatus.Running) return
  for (let a = 1; a <= (job.attempts[index] ?? 0); a++) if (job.running.has(runKey(index, a))) return
  job.status[index] = TaskStatus.NeedsDecision
  job.needsDecision.set(index, { attempt, error, retryable })
}

/** Frees the worker slot of an attempt; a reclaimed one stays allowed to report (first valid result wins). */
const releaseRun = (state: ClusterState, job: JobState, run: Run, reclaimed: boolean): void => {
  job.running.delete(runKey(run.index, run.attempt))
  job.superseded.delete(runKey(run.index, run.attempt))
  state.workers.get(run.workerId)?.leases.delete(leaseKey(job.jobId, run.index, run.attempt))
  if (reclaimed) job.orphans.set(runKey(run.index, run.attempt), run.workerId)
}

const clearOrphans = (job: JobState, index: number): void => {
  if (job.orphans.size === 0) return
  for (let a = 1; a <= (job.attempts[index] ?? 0); a++) job.orphans.delete(runKey(index, a))
}

const endJob = (state: ClusterState, job: JobState, phase: JobState["phase"], ts: number): void => {
  job.phase = phase
  job.endedAt = ts
  state.activeJobs.delete(job.jobId)
  // The job's leases stop counting against worker slots at once: workers abort them on seeing the end.
  for (const run of job.running.values()) {
    state.workers.get(run.workerId)?.leases.delete(leaseKey(job.jobId, run.index, run.attempt))
  }
  job.running.clear()
  job.superseded.clear()
  job.orphans.clear()
  job.retryAt.clear()
  job.needsDecision.clear()
}

const workerJoined = (state: ClusterState, event: EventOf<"WorkerJoined">): void => {
  const existing = state.workers.get(event.workerId)
  if (existing !== undefined) {
    // A restarted process with the same id does not hold its predecessor's leases.
    reclaimAll(state, existing, "worker restarted")
    existing.slots = event.slots
    existing.prefetch = event.prefetch ?? 0
    existing.host = event.host
    existing.pid = event.pid
    existing.kinds = event.kinds
    existing.phase = "live"
    existing.joinedAt = state.now
    existing.lastEventAt = state.now
    existing.clockOffsetMs = undefined // a restarted process may run on another clock
    return
  }
  state.workers.set(event.workerId, {
    workerId: event.workerId,
    slots: event.slots,
    prefetch: event.prefetch ?? 0,
    host: event.host,
    pid: event.pid,
    kinds: event.kinds,
    phase: "live",
    joinedAt: state.now,
    lastEventAt: state.now,
    leases: new Set(),
    assigned: 0,
    completed: 0,
    failed: 0,
    taskMsTotal: 0,
    clockOffsetMs: undefined,
    clockOffsetAt: 0
  })
}

const workerGone = (state: ClusterState, worker: WorkerState, phase: "left" | "lost", ts: number): void => {
  reclaimAll(state, worker, phase === "lost" ? "worker lost" : "worker left")
  worker.phase = phase
  worker.lastEventAt = ts
}

const reclaimAll = (state: ClusterState, worker: WorkerState, reason: string): void => {
  for (const key of [...worker.leases]) {
    const slash = key.lastIndexOf("/")
    const job = state.jobs.get(key.slice(0, slash))
    const run = job?.running.get(key.slice(slash + 1))
    if (job === undefined || run === undefined) continue
    releaseRun(state, job, run, true)
    failAttempt(job, run.index, run.attempt, reason, true)
  }
  worker.leases.clear()
}
