// The producer's client: submit jobs, follow them to their end, ask the coordinator, cancel, chat.
// Requests go into the log; questions go to the leading coordinator, or to a replay of the log when
// no coordinator answers.
import type { NatsConnection } from "@nats-io/transport-node"
import { isNoResponders } from "./no-responders.ts"
import { checkTask, liveTaskNames } from "./task-presence.ts"
import type { DtqEvent } from "../domain/events.ts"
import { jobIdProblem, newEventId, newJobId, newProcessId } from "../domain/ids.ts"
import { decodeEvent } from "../domain/event-codec.ts"
import { resolveSpec, type ResolvedSpec } from "../domain/job-spec.ts"
import { decodeOutput, encodeInput } from "../tasks/codec.ts"
import type { AnyTaskDefinition, InputOf, OutputOf, TaskDefaults } from "../tasks/define.ts"
import { InvalidInput, InvalidOutput, UnknownTask } from "./errors.ts"
import { awaitOutputs, watchJob, type AwaitOptions, type JobWatch } from "./task-jobs.ts"
import { foldMessage } from "../projections/fold-message.ts"
import { emptyState, isFinished, type ClusterState, type JobPhase } from "../projections/state.ts"
import { JOBS_LISTED, jobBlocker, jobView, jobsView, workersView, type JobView, type RetentionView, type WorkerView } from "../projections/views.ts"
import { matchesJob, type JobFilter } from "../projections/job-filter.ts"
import { ErrorTally, type ErrorGroup } from "../projections/errors-view.ts"
import type { RetentionPolicy } from "../domain/retention-policy.ts"
import { connectCluster } from "../nats/connection.ts"
import type { NatsCredentials } from "../nats/credentials.ts"
import { AppendRefused, EventLog } from "../nats/event-log.ts"
import { CHAT_SUBJECT, EVENTS_STREAM, controlSubject, eventTypeSubject } from "../nats/subjects.ts"
import { recoveryStart, type RecoveryStart } from "../nats/recovery.ts"
import { SnapshotStore } from "../nats/snapshot-store.ts"
import { DatasetStore } from "../nats/dataset-store.ts"
import { ModelStore } from "../nats/model-store.ts"
import { TensorStore } from "../nats/tensor-store.ts"
import { BadSpec } from "../domain/errors.ts"
import { prepareTraining, type TrainingStores } from "./train-jobs.ts"
import { trainingReport, type TrainingReport } from "../reports/training-report.ts"
import { prepareInference } from "./infer-jobs.ts"
import { MAX_BATCH_SIZE } from "../domain/infer-spec.ts"
import { PredictionStore } from "../nats/prediction-store.ts"

/** A submission: the job's id and resolved spec; `existing` when the id was already this very job. */
export type Submitted = { readonly jobId: string; readonly spec: ResolvedSpec; readonly existing?: boolean }

/** A spec as text with sorted keys, without the submission-time `runAt` (a resubmission's delay counts anew). */
const canonicalSpec = (spec: ResolvedSpec): string =>
  JSON.stringify(spec, (key, value: unknown) =>
    key === "runAt" ? undefined
    : typeof value === "object" && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : value)

const sameOrTaken = (jobId: string, spec: ResolvedSpec, taken: { spec: ResolvedSpec; ts: number; writer: string }): Submitted => {
  if (canonicalSpec(taken.spec) === canonicalSpec(spec)) return { jobId, spec: taken.spec, existing: true }
  const what = taken.spec.kind === "train" || taken.spec.kind === "infer" || taken.spec.kind === "sum" || taken.spec.kind === "sumsq" || taken.spec.kind === "task" ? `a ${taken.spec.kind} job` : "a job"
  throw new BadSpec({
    field: "jobId",
    message: `${jobId} is taken: ${what} with another spec was submitted under it at ${new Date(taken.ts).toISOString()} by ${taken.writer}; choose another jobId (the same spec again returns that job)`
  })
}

export type JobOutcome = {
  readonly jobId: string
  readonly state: "completed" | "failed" | "cancelled"
  readonly result: string | null
  readonly reason?: string
  readonly tasks: number
  readonly durationMs: number | null
}

/** An answer, and whether it came from a replay of the log (no coordinator was running). */
export type Answer<T> = { readonly value: T; readonly replayed: boolean }

export type JobDetail = {
  readonly job?: JobView
  readonly blocked?: string
  readonly lastErrors?: ReadonlyArray<{ index: number; error: string }>
  readonly error?: string
}

export type Progress = { readonly done: number; readonly tasks: number; readonly state: string; readonly coordinator: boolean }


/** How to run submitted tasks; each falls back to the task definition's defaults, then the cluster's. */
export type SubmitOptions = TaskDefaults & {
  /** Not before this time... */
  readonly runAt?: Date | number
  /** ...or not before this many ms from now. */
  readonly delayMs?: number
  /** A waiting job gains one priority level per agingMs without a lease. Default 5000. */
  readonly agingMs?: number
  /** A label shown by dtq jobs. */
  readonly name?: string
  /** The job's id (letters, digits, '_' and '-'); a new one by default. */
  readonly jobId?: string
  /**
   * Queue the job even when no live worker runs the task (it waits for one; dtq job says so). Default
   * false: such a submission is refused at once with UnknownTask.
   */
  readonly queueUnknown?: boolean
}

/** A submitted job of user-defined tasks: await its outputs (typed, in input order), watch it, cancel it. */
export class JobHandle<O> {
  readonly jobId: string
  readonly tasks: number
  readonly #client: Client
  readonly #decode: (wire: unknown) => O

  constructor(client: Client, jobId: string, tasks: number, decode: (wire: unknown) => O) {
    this.#client = client
    this.jobId = jobId
    this.tasks = tasks
    this.#decode = decode
  }

  /** Every task's output, in input order; rejects with TaskFailed, JobCancelled or TaskTimeout. */
  async results(options: AwaitOptions = {}): Promise<O[]> {
    const watch = watchJob(this.#client, this.jobId)
    const wire = await awaitOutputs(this.#client, this.jobId, watch, options, true)
    return wire.map(this.#decode)
  }

  /** The first (for a single task: the only) output. */
  async result(options: AwaitOptions = {}): Promise<O> {
    return (await this.results(options))[0] as O
  }

  /** The job as the coordinator sees it now (done, running, progress, state). */
  status(): Promise<JobView | undefined> {
    return this.#client.job(this.jobId)
  }

  cancel(reason = "cancelled by request"): Promise<void> {
    return this.#client.cancel(this.jobId, reason)
  }
}

/** What a replay covers: the log from `firstSeq` on, on top of snapshot `snapshotSeq` when history was compacted. */
export type ReplayHistory = { readonly firstSeq: number; readonly snapshotSeq?: number }

export class Client {
  readonly id: string
  readonly nc: NatsConnection
  readonly log: EventLog

  private constructor(nc: NatsConnection, log: EventLog, id: string) {
    this.nc = nc
    this.log = log
    this.id = id
  }

  /**
   * Connects; throws ClusterUnreachable when the server cannot be reached. Once connected it rides through
   * a server restart (a producer waiting for its job keeps waiting).
   */
  static async connect(url: string, credentials: NatsCredentials = {}): Promise<Client> {
    const id = newProcessId("p")
    const nc = await connectCluster(url, { name: `dtq-producer-${id}`, credentials })
    try {
      return new Client(nc, await EventLog.open(nc), id)
    } catch (error) {
      await nc.close().catch(() => undefined)
      throw error
    }
  }

  #envelope() {
    return { id: newEventId(), v: 1 as const, ts: Date.now(), writer: { role: "producer" as const, id: this.id } }
  }

  /**
   * Validates a job spec (throws BadSpec naming the field) and writes JobSubmitted. With `claim`, `jobId`
   * is the user's (the predecessor's `jobId=`, BullMQ's custom job id): see #submitClaimed.
   */
  async submitJob(request: unknown, jobId: string = newJobId(), options: { claim?: boolean } = {}): Promise<Submitted> {
    const spec = resolveSpec(request)
    if (options.claim === true) return this.#submitClaimed(jobId, spec)
    await this.log.append({ type: "JobSubmitted", ...this.#envelope(), jobId, spec })
    return { jobId, spec }
  }

  /**
   * A user-chosen job id is unique and doubles as an idempotency key. The log decides, so a replay agrees:
   * JobSubmitted is appended only if its subject (dtq.ev.JobSubmitted.<jobId>) holds nothing yet (a
   * compare-and-set JetStream does atomically, so of two producers racing for an id exactly one is stored,
   * and the fold, which keeps a job's first JobSubmitted, folds that one). When the id is taken, the same
   * spec again returns the existing job (`existing: true`, nothing written); a different one is refused.
   */
  async #submitClaimed(jobId: string, spec: ResolvedSpec): Promise<Submitted> {
    const problem = jobIdProblem(jobId)
    if (problem !== undefined) throw new BadSpec({ field: "jobId", message: problem })
    const taken = await this.#storedSubmission(jobId)
    if (taken !== undefined) return sameOrTaken(jobId, spec, taken)
    try {
      await this.log.append({ type: "JobSubmitted", ...this.#envelope(), jobId, spec }, { expectLastSubjectSeq: 0 })
    } catch (error) {
      const now = error instanceof AppendRefused && /wrong last/i.test(error.message) ? await this.#storedSubmission(jobId) : undefined
      if (now !== undefined) return sameOrTaken(jobId, spec, now)
      throw error
    }
    return { jobId, spec }
  }

  /** The JobSubmitted stored for a job id, if any (read by subject, as a worker reads an inference spec). */
  async #storedSubmission(jobId: string): Promise<{ spec: ResolvedSpec; ts: number; writer: string } | undefined> {
    const msg = await this.log.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: eventTypeSubject("JobSubmitted", jobId) }).catch((error: Error) => {
      if (/no message found|not found/i.test(error.message)) return null
      throw error
    })
    if (msg === null) return undefined
    const decoded = decodeEvent(msg.data)
    if (!decoded.ok || decoded.event.type !== "JobSubmitted") return { spec: { kind: "unreadable" } as unknown as ResolvedSpec, ts: 0, writer: "?" }
    return { spec: decoded.event.spec, ts: decoded.event.ts, writer: decoded.event.writer.id }
  }

  /**
   * Runs one task and returns its typed output. The input is checked against the task's Schema before it
   * enters the log (InvalidInput names the field). Rejects with TaskFailed (the handler's error, and
   * whether it was retryable), JobCancelled, or TaskTimeout after `timeout` ms (the task is then cancelled).
   */
  async submit<D extends AnyTaskDefinition>(task: D, input: InputOf<D>, options: SubmitOptions & AwaitOptions = {}): Promise<OutputOf<D>> {
    const wire = this.#encodeInputs(task, [input])
    const jobId = options.jobId ?? newJobId()
    const watch = watchJob(this, jobId) // before the job exists: its end cannot be missed
    try {
      await this.submitTasks(task.name, wire, { ...withDefaults(task.defaults, options), jobId }, options.jobId !== undefined)
    } catch (error) {
      watch.stop()
      throw error
    }
    const [output] = await awaitOutputs(this, jobId, watch, options, false)
    return decodeWith(task, output) as OutputOf<D>
  }

  /** Submits one task without waiting; the handle awaits, watches or cancels it. */
  async enqueue<D extends AnyTaskDefinition>(task: D, input: InputOf<D>, options: SubmitOptions = {}): Promise<JobHandle<OutputOf<D>>> {
    return this.batch(task, [input], options)
  }

  /** Submits many tasks as one job (one task per input, run in parallel); the handle awaits all outputs. */
  async batch<D extends AnyTaskDefinition>(task: D, inputs: ReadonlyArray<InputOf<D>>, options: SubmitOptions = {}): Promise<JobHandle<OutputOf<D>>> {
    const wire = this.#encodeInputs(task, inputs)
    const { jobId } = await this.submitTasks(task.name, wire, withDefaults(task.defaults, options))
    return new JobHandle(this, jobId, wire.length, (value) => decodeWith(task, value) as OutputOf<D>)
  }

  /**
   * Submits tasks by name with inputs already in their wire (JSON) form: what `dtq submit` does. A given
   * `jobId` is claimed (unique; the same submission again returns the existing job).
   */
  async submitTasks(name: string, inputs: ReadonlyArray<unknown>, options: SubmitOptions = {}, claim = options.jobId !== undefined): Promise<Submitted> {
    if (options.queueUnknown !== true) await this.requireLiveTask(name)
    return this.submitJob(taskRequest(name, inputs, options), options.jobId ?? newJobId(), { claim })
  }

  /** Throws UnknownTask (naming the tasks live workers do run) when no live worker has advertised `name`. */
  async requireLiveTask(name: string): Promise<void> {
    if ((await checkTask(this.nc, name, [])).kind !== "none") return
    const running = await this.workers().then((a) => liveTaskNames(a.value.workers), () => [])
    throw new UnknownTask(name, running)
  }

  /** A fresh job id (to watch a job before submitting it). */
  newJobId(): string {
    return newJobId()
  }

  #encodeInputs(task: AnyTaskDefinition, inputs: ReadonlyArray<unknown>): unknown[] {
    if (inputs.length === 0) throw new InvalidInput(`a batch of task ${task.name} needs at least one input`)
    return inputs.map((input, i) => {
      const encoded = encodeInput(task, input)
      if (!encoded.ok) throw new InvalidInput(inputs.length === 1 ? encoded.error : `inputs[${i}]: ${encoded.error}`)
      return encoded.value
    })
  }

  /** Writes JobCancelRequested without looking the job up first (the fold sets it aside if the job has ended). */
  async requestCancel(jobId: string, reason: string): Promise<void> {
    await this.log.append({ type: "JobCancelRequested", ...this.#envelope(), jobId, reason })
  }

  /**
   * Submits and follows the job to its end. A user-chosen `jobId` is claimed as submitJob does (`claim`,
   * default: whenever a jobId is given); a fresh one from newJobId() needs no claim.
   */
  async run(request: unknown, onProgress?: (p: Progress) => void, options: { jobId?: string; claim?: boolean } = {}): Promise<JobOutcome> {
    const jobId = options.jobId ?? newJobId()
    const ended = watchJob(this, jobId) // subscribed before the job exists: its end cannot be missed
    let spec: ResolvedSpec
    try {
      spec = (await this.submitJob(request, jobId, { claim: options.claim ?? options.jobId !== undefined })).spec
    } catch (error) {
      ended.stop()
      throw error
    }
    return this.#follow(jobId, spec.tasks, ended, onProgress)
  }

  /** Follows an existing job to its end; rejects when no such job shows up within 2 s (the coordinator may lag). */
  async wait(jobId: string, onProgress?: (p: Progress) => void): Promise<JobOutcome> {
    const ended = watchJob(this, jobId)
    // A server fail-over can make a lookup time out: those are retried (for up to a minute).
    let view: JobView | undefined
    let unknownFor = 0
    for (let tries = 0; tries < 300; tries++) {
      try {
        view = await this.job(jobId)
        if (view !== undefined || ++unknownFor >= 10) break
      } catch {
        // transient: try again
      }
      await sleep(200)
    }
    if (view === undefined) {
      ended.stop()
      throw new Error(`unknown job ${jobId}`)
    }
    return this.#follow(jobId, view.tasks, ended, onProgress, view)
  }

  /** Follows a job this client just submitted (it may not be folded yet) to its end. */
  follow(jobId: string, tasks: number, onProgress?: (p: Progress) => void): Promise<JobOutcome> {
    return this.#follow(jobId, tasks, watchJob(this, jobId), onProgress)
  }

  async #follow(
    jobId: string,
    tasks: number,
    ended: JobWatch,
    onProgress?: (p: Progress) => void,
    known?: JobView
  ): Promise<JobOutcome> {
    let finished = known !== undefined && isFinished(known.state) ? known : undefined
    let endEvent: DtqEvent | undefined
    void ended.end.then((event) => {
      endEvent = event
    })
    try {
      while (finished === undefined && endEvent === undefined) {
        const view = await this.#askJob(jobId)
        if (view !== undefined && isFinished(view.state)) finished = view
        onProgress?.({ done: view?.done ?? 0, tasks, state: view?.state ?? "submitted", coordinator: view !== undefined })
        if (finished === undefined && endEvent === undefined) await Promise.race([ended.end, sleep(250)])
      }
    } finally {
      ended.stop()
    }
    // The coordinator's view carries the duration; the end event alone is enough when it is gone.
    const view = finished ?? (await this.#askJob(jobId))
    return outcome(jobId, tasks, endEvent, view)
  }

  async #askJob(jobId: string): Promise<JobView | undefined> {
    const reply = await this.ask<{ job?: JobView }>("job", { jobId }).catch(() => undefined)
    return reply?.job
  }

  /** Asks the leading coordinator; rejects when none answers within `timeoutMs`. */
  async ask<T>(verb: string, body: unknown = {}, timeoutMs = 2000): Promise<T> {
    const msg = await this.nc.request(controlSubject(verb), JSON.stringify(body), { timeout: timeoutMs })
    return JSON.parse(new TextDecoder().decode(msg.data)) as T
  }

  /**
   * Asks the leading coordinator; only when there is none (no responders) is the answer computed from a
   * replay of the log. A slow coordinator is not a reason to replay: its error is thrown.
   */
  async askOrReplay<T>(verb: string, body: unknown, fromState: (state: ClusterState) => T): Promise<Answer<T>> {
    // A coordinator busy with training on a small machine can miss one 2 s deadline: asked again (up to
    // 5 times, 10 s in all) before the timeout is the caller's error.
    for (let tries = 1; ; tries++) {
      try {
        return { value: await this.ask<T>(verb, body), replayed: false }
      } catch (error) {
        if (isNoResponders(error)) break
        if (tries >= 5 || !isTimeout(error)) throw error
      }
    }
    return { value: fromState((await this.replay()).state), replayed: true }
  }

  /** The newest jobs (at most 500) that match `filter` (default: all), and how many match in all. */
  async jobs(filter: JobFilter = {}): Promise<Answer<{ jobs: JobView[]; total: number; retention?: RetentionView & { policy?: RetentionPolicy } }>> {
    const keep = Object.keys(filter).length === 0 ? undefined : (job: JobView) => matchesJob(job, filter)
    const answer = await this.askOrReplay("jobs", filter, (state) => jobsView(state, JOBS_LISTED, keep))
    // A coordinator of an earlier release ignores the filter: applying it again here keeps the answer right.
    if (keep === undefined || answer.value.jobs.every(keep)) return answer
    const jobs = answer.value.jobs.filter(keep)
    return { ...answer, value: { ...answer.value, jobs, total: jobs.length } }
  }

  /**
   * A new job with the same spec as a failed or cancelled one, linked to it in the log (JobSubmitted's
   * `retryOf`). Jobs of sums and user tasks; a training job is re-run with resume, an inference job anew.
   */
  async retry(jobId: string, options: { queueUnknown?: boolean; jobId?: string } = {}): Promise<{ jobId: string; spec: ResolvedSpec; retryOf: string }> {
    const view = await this.job(jobId)
    if (view === undefined) throw new BadSpec({ field: "job", message: `unknown job ${jobId}` })
    if (view.state !== "failed" && view.state !== "cancelled" && view.state !== "rejected") {
      throw new BadSpec({ field: "job", message: `job ${jobId} is ${view.state}; only a failed or cancelled job can be retried` })
    }
    if (view.kind === "train" || view.kind === "infer") {
      throw new BadSpec({ field: "job", message: `job ${jobId} is a ${view.kind} job; retry re-runs sums and user tasks (a training job: dtq resume, an inference job: dtq infer)` })
    }
    const submitted = await this.log.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: eventTypeSubject("JobSubmitted", jobId) }).catch(() => null)
    const decoded = submitted === null ? undefined : decodeEvent(submitted.data)
    if (decoded === undefined || !decoded.ok || decoded.event.type !== "JobSubmitted") throw new BadSpec({ field: "job", message: `the log holds no JobSubmitted of ${jobId}` })
    const spec = decoded.event.spec
    if (spec.kind === "task" && options.queueUnknown !== true) await this.requireLiveTask(spec.task)
    const newId = options.jobId ?? newJobId()
    await this.log.append({ type: "JobSubmitted", ...this.#envelope(), jobId: newId, spec, retryOf: jobId })
    return { jobId: newId, spec, retryOf: jobId }
  }

  /** The distinct task errors in the log (of one job when given), with counts and the attempts that hit them. */
  async errors(jobId?: string): Promise<ErrorGroup[]> {
    const tally = new ErrorTally(jobId)
    await this.log.readRange(1, await this.log.lastSeq(), (m) => {
      if (!m.subject.startsWith("dtq.ev.TaskFailed.")) return
      const decoded = decodeEvent(m.data)
      if (decoded.ok && decoded.event.type === "TaskFailed") tally.add(decoded.event)
    })
    return tally.view()
  }

  workers(): Promise<Answer<{ workers: WorkerView[] }>> {
    return this.askOrReplay("workers", {}, (state) => ({ workers: workersView(state) }))
  }

  /** One job with why it waits (if it does) and its latest task errors. */
  jobDetail(jobId: string): Promise<Answer<JobDetail>> {
    return this.askOrReplay<JobDetail>("job", { jobId }, (state) => {
      const job = state.jobs.get(jobId)
      if (job === undefined) return { error: `unknown job ${jobId}` }
      const blocked = jobBlocker(state, job, Date.now())
      return { job: jobView(job, { now: state.lastTs, allocation: state.allocation }), ...(blocked === undefined ? {} : { blocked }) }
    })
  }

  /** The job as the coordinator sees it, or as a replay of the log shows it when there is no coordinator. */
  async job(jobId: string): Promise<JobView | undefined> {
    return (await this.jobDetail(jobId)).value.job
  }

  /** Writes JobCancelRequested for a job that exists and has not ended. */
  async cancel(jobId: string, reason = "cancelled by request"): Promise<void> {
    const job = await this.job(jobId)
    if (job === undefined) throw new Error(`unknown job ${jobId}`)
    if (isFinished(job.state)) throw new Error(`job ${jobId} already ${job.state}`)
    await this.log.append({ type: "JobCancelRequested", ...this.#envelope(), jobId, reason })
  }

  #trainingStores: Promise<TrainingStores> | undefined

  /** The Object Store buckets and tensor stream training uses (opened on first use). */
  trainingStores(): Promise<TrainingStores> {
    this.#trainingStores ??= (async () => ({
      datasets: await DatasetStore.open(this.nc),
      tensors: await TensorStore.open(this.nc),
      models: await ModelStore.open(this.nc)
    }))()
    return this.#trainingStores
  }

  /**
   * Submits a training job: `request` is `{ kind: "train", model, data, ... }` (train-spec.ts). Local data
   * files are read and parsed here (relative to `cwd`) and uploaded once by digest; a bad file or key
   * throws BadSpec naming it before anything enters the log.
   */
  async train(request: Record<string, unknown>, options: { jobId?: string; cwd?: string } = {}): Promise<Submitted> {
    const jobId = options.jobId ?? newJobId()
    const spec = await prepareTraining({ kind: "train", ...request }, await this.trainingStores(), jobId, options)
    return this.submitJob(spec, jobId, { claim: options.jobId !== undefined })
  }

  /** `resume LAST`: the newest completed training job of the cluster (by submission time). */
  async lastTrainingJob(): Promise<string> {
    const { jobs } = (await this.jobs()).value
    const done = jobs.filter((j) => j.kind === "train" && j.state === "completed").sort((a, b) => b.submittedAt - a.submittedAt)
    if (done[0] === undefined) throw new BadSpec({ field: "job", message: "LAST: the cluster has no completed training job to resume from; give a job id" })
    return done[0].jobId
  }

  /** A warm start: a new training job from a finished one's weights and settings, with `overrides`. */
  async resume(fromJobId: string, overrides: Record<string, unknown>, options: { jobId?: string; cwd?: string } = {}): Promise<Submitted> {
    const view = (await this.jobDetail(fromJobId)).value.job
    if (view === undefined) throw new BadSpec({ field: "job", message: `unknown job ${fromJobId}` })
    const spec = view.spec
    const model = view.training?.finished?.model
    if (spec.kind !== "train" || model === undefined) {
      throw new BadSpec({ field: "job", message: `job ${fromJobId} is ${spec.kind === "train" ? `a training job that is ${view.state}` : `a ${spec.kind} job`}; resume needs a finished training job` })
    }
    const base: Record<string, unknown> = {
      model: spec.model,
      task: spec.task,
      data: spec.data.name,
      ...(spec.test === undefined ? {} : { test: spec.test.name }),
      samples: spec.samples,
      ...(spec.model === "mlp" ? { hidden: spec.hidden } : {}),
      epochs: spec.epochs,
      batchSize: spec.batchSize,
      lr: spec.lr,
      lrDecay: spec.lrDecay,
      seed: spec.seed,
      mode: spec.mode,
      workers: spec.tasks,
      backup: spec.backup,
      staleness: spec.staleness,
      localEpochs: spec.localEpochs,
      patience: spec.patience,
      minDelta: spec.minDelta,
      normalize: spec.normalize,
      ...(spec.csvLabel === undefined ? {} : { csvLabel: spec.csvLabel }),
      ...(spec.hasHeader === undefined ? {} : { hasHeader: spec.hasHeader })
    }
    const jobId = options.jobId ?? newJobId()
    const request = { kind: "train", ...base, ...overrides }
    const warmStart = { jobId: fromJobId, model, request }
    const resolved = await prepareTraining(request, await this.trainingStores(), jobId, { ...options, warmStart })
    return this.submitJob(resolved, jobId, { claim: options.jobId !== undefined })
  }

  /**
   * Submits a batch inference job: `request` is `{ model: JOB, data, batchSize, share, ... }` (infer-spec.ts).
   * The model job must be a completed training job; local data files are read and uploaded here.
   */
  async infer(request: Record<string, unknown>, options: { jobId?: string; cwd?: string; claim?: boolean } = {}): Promise<Submitted> {
    const modelJob = typeof request.model === "string" ? request.model : undefined
    if (modelJob === undefined) throw new BadSpec({ field: "model", message: "is missing: the finished training job whose model predicts (model=JOB)" })
    const view = (await this.jobDetail(modelJob)).value.job
    if (view === undefined) throw new BadSpec({ field: "model", message: `unknown job ${modelJob}` })
    const model = view.training?.finished?.model
    const jobId = options.jobId ?? newJobId()
    const spec = await prepareInference(
      { kind: "infer", ...request },
      { jobId: view.jobId, state: view.state, spec: view.spec as ResolvedSpec, ...(model === undefined ? {} : { model }) },
      (await this.trainingStores()).datasets,
      options
    )
    return this.submitJob(spec, jobId, { claim: options.claim ?? options.jobId !== undefined })
  }

  /** Asks a running inference job to cut its batches not yet leased to `batchSize` rows (set-batch-size). */
  async setBatchSize(jobId: string, batchSize: number): Promise<void> {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      throw new BadSpec({ field: "batchSize", message: `${batchSize} is not a whole number of rows in 1..${MAX_BATCH_SIZE}` })
    }
    const job = await this.job(jobId)
    if (job === undefined) throw new Error(`unknown job ${jobId}`)
    if (job.kind !== "infer") throw new Error(`job ${jobId} is a ${job.kind} job; only inference jobs have a batch size`)
    if (isFinished(job.state)) throw new Error(`job ${jobId} already ${job.state}`)
    await this.log.append({ type: "BatchSizeRequested", ...this.#envelope(), jobId, batchSize })
  }

  /** A finished inference job's predictions, in input order (read from the Object Store, checked by digest). */
  async predictions(jobId: string): Promise<number[]> {
    const stored = (await this.job(jobId))?.inference?.stored?.predictions
    if (stored === undefined) throw new Error(`job ${jobId} has no stored predictions (is it a completed inference job?)`)
    const store = await PredictionStore.open(this.nc)
    return store.get(stored.name, stored.digest)
  }

  /** Every training job's epochs and outcome (from the coordinator, or a replay when none runs). */
  trainingReport(): Promise<Answer<TrainingReport>> {
    return this.askOrReplay("training", {}, (state) => trainingReport(state))
  }

  chat(text: string, from: string = this.id): void {
    this.nc.publish(CHAT_SUBJECT, JSON.stringify({ from, text }))
  }

  /**
   * Rebuilds the whole state from the log (through `untilSeq`, default the newest event). After a
   * compaction the log starts later: the replay starts from the newest snapshot that reaches it, and
   * `history` says so. An `untilSeq` past the log's end replays to the end (never waits for events not yet
   * written): `lastSeq` says where.
   */
  async replay(untilSeq?: number): Promise<{ state: ClusterState; ms: number; history: ReplayHistory; lastSeq: number; pastEnd: boolean }> {
    const t0 = performance.now()
    const lastSeq = await this.log.lastSeq()
    const pastEnd = untilSeq !== undefined && untilSeq > lastSeq
    if (pastEnd) untilSeq = lastSeq
    const firstSeq = (await this.log.jsm.streams.info(EVENTS_STREAM)).state.first_seq
    let start: RecoveryStart = { state: emptyState(), fromSeq: 1, snapshot: undefined }
    if (firstSeq > 1) {
      start = await recoveryStart(await SnapshotStore.open(this.nc), firstSeq, untilSeq === undefined ? {} : { untilSeq })
      if (start.snapshot === undefined) {
        throw new Error(`the log starts at #${firstSeq} (events before it were compacted) and no snapshot${untilSeq === undefined ? "" : ` up to #${untilSeq}`} reaches it: the state cannot be rebuilt${untilSeq !== undefined && untilSeq < firstSeq ? ` (#${untilSeq} is compacted history)` : ""}`)
      }
    }
    const state = start.state
    await this.log.readRange(start.fromSeq, untilSeq, (m) => {
      foldMessage(state, m, m.data)
    })
    const history: ReplayHistory = { firstSeq, ...(start.snapshot === undefined ? {} : { snapshotSeq: start.snapshot.seq }) }
    return { state, ms: performance.now() - t0, history, lastSeq, pastEnd }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined)
  }
}

/** The job spec of a task submission: options over the task's defaults, `timeoutMs` as the attempt limit. */
export const taskRequest = (name: string, inputs: ReadonlyArray<unknown>, options: SubmitOptions): Record<string, unknown> => {
  const { timeoutMs, runAt, jobId: _jobId, ...rest } = options
  const request: Record<string, unknown> = { kind: "task", task: name, inputs }
  for (const [key, value] of Object.entries(rest)) if (value !== undefined && SUBMIT_KEYS.has(key)) request[key] = value
  if (timeoutMs !== undefined) request.maxTaskMs = timeoutMs
  if (runAt !== undefined) request.runAt = runAt instanceof Date ? runAt.getTime() : runAt
  return request
}

/** Options over a task's defaults; an option given as undefined leaves the default in place. */
const withDefaults = (defaults: TaskDefaults, options: SubmitOptions): SubmitOptions => {
  const merged: Record<string, unknown> = { ...defaults }
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value
  return merged as SubmitOptions
}

const SUBMIT_KEYS = new Set(["maxAttempts", "backoffMs", "backoffMaxMs", "priority", "delayMs", "agingMs", "name"])

const decodeWith = (task: AnyTaskDefinition, wire: unknown): unknown => {
  const decoded = decodeOutput(task, wire)
  if (!decoded.ok) throw new InvalidOutput(`task ${task.name}: ${decoded.error}`)
  return decoded.value
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The request got no answer in time (a slow coordinator, as opposed to none). */
const isTimeout = (error: unknown): boolean => error instanceof Error && (/timeout/i.test(error.message) || /timeout/i.test(String((error as { code?: unknown }).code ?? "")))

/** No process listens on the subject: no coordinator is running (as opposed to a slow one). */
export { isNoResponders } from "./no-responders.ts"

const outcome = (jobId: string, tasks: number, event: DtqEvent | undefined, view: JobView | undefined): JobOutcome => {
  const phase = view !== undefined && isFinished(view.state) ? view.state : endState(event)
  // The interface knows three end states: a job the coordinator refused counts as failed, with its reason.
  const state = phase === "rejected" ? "failed" : (phase as JobOutcome["state"])
  const result = view?.result ?? (event?.type === "JobCompleted" ? event.result : undefined)
  const why = view?.reason ?? (event !== undefined && "reason" in event ? (event.reason as string) : undefined)
  const reason = phase === "rejected" && why !== undefined ? `rejected: ${why}` : why
  // The end event can arrive before the coordinator has folded it: then its time gives the duration.
  const durationMs = view?.durationMs ?? (event !== undefined && view !== undefined ? event.ts - view.submittedAt : undefined)
  return {
    jobId,
    state,
    result: result ?? null,
    ...(reason === undefined ? {} : { reason }),
    tasks,
    durationMs: durationMs ?? null
  }
}

const endState = (event: DtqEvent | undefined): JobPhase => {
  switch (event?.type) {
    case "JobCompleted":
      return "completed"
    case "JobCancelled":
      return "cancelled"
    case "JobRejected":
      return "rejected"
    default:
      return "failed"
  }
}
