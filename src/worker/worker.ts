// The worker: joins, receives its leases on its own subject, runs up to `slots` tasks at once, and writes
// what happened as facts (TaskCompleted, TaskFailed, ProgressBeat), batched so that a burst of results
// costs one durable write.
import { hostname } from "node:os"
import { NoRespondersError, TimeoutError, type NatsConnection, type Subscription } from "@nats-io/transport-node"
import { decodeEvent } from "../domain/event-codec.ts"
import type { DtqEvent, EventOf } from "../domain/events.ts"
import { newEventId, newProcessId } from "../domain/ids.ts"
import { connectCluster } from "../nats/connection.ts"
import type { NatsCredentials } from "../nats/credentials.ts"
import { TermWatch } from "./term-watch.ts"
import { AppendRefused, EventLog, type Tail } from "../nats/event-log.ts"
import { EventTooLarge, StreamFull } from "../nats/errors.ts"
import { CHAT_SUBJECT, TASK_CHECK_QUEUE, eventTypeSubject, heartbeatSubject, leaseSubject, taskCheckSubject, workerPingSubject } from "../nats/subjects.ts"
import { decodeInput } from "../tasks/codec.ts"
import { jsonByteLength, jsonProblem } from "../domain/json.ts"
import { tasksOf, type LoadedTask } from "../tasks/load.ts"
import type { AnyTaskDefinition } from "../tasks/define.ts"
import { builtinHandlers } from "./builtin-handlers.ts"
import { NO_FAULTS, afterTask, beforeTask, type FaultOptions } from "./faults.ts"
import { TaskError, type TaskHandler } from "./task-handler.ts"
import { trainingShareHandler } from "./training-share.ts"
import { TensorStore } from "../nats/tensor-store.ts"
import { DatasetStore } from "../nats/dataset-store.ts"
import { ModelStore } from "../nats/model-store.ts"
import { inferenceHandler } from "./infer-handler.ts"

export type WorkerOptions = {
  readonly url: string
  /** NATS credentials and TLS (docs/operations.md). */
  readonly credentials?: NatsCredentials
  readonly id?: string
  /** Tasks run at once. Default 4. */
  readonly slots?: number
  /** Leases accepted beyond `slots`, queued here so the next task is ready when one ends. Default: slots. */
  readonly prefetch?: number
  /** Extra task handlers by kind (untyped user-defined tasks). */
  readonly handlers?: ReadonlyMap<string, TaskHandler>
  /** User-defined tasks: definitions, or what loadTaskModule returned. Typed ones also answer input checks. */
  readonly tasks?: ReadonlyMap<string, LoadedTask> | ReadonlyArray<AnyTaskDefinition>
  readonly faults?: FaultOptions
  /** Liveness beat interval. Default 1000 ms. */
  readonly heartbeatMs?: number
  /** How often held leases are renewed with a ProgressBeat (with their progress). Default 1000 ms. */
  readonly progressMs?: number
  /** Give up after this long without the cluster (0: keep trying forever). Default 60000 ms. */
  readonly offlineExitMs?: number
  /** Called when the worker gives up after offlineExitMs without the cluster. */
  readonly onOffline?: (detail: string) => void
  readonly log?: (line: string) => void
  /**
   * A test aid: shifts this worker's wall clock (the `ts` it stamps on its events) by this many ms, to run
   * dtq with clocks that disagree. Nothing the cluster decides depends on it (docs/architecture.md, "Time").
   */
  readonly clockOffsetMs?: number
}

/** Another live worker already uses this id. */
export class DuplicateWorker extends Error {}

type Lease = EventOf<"TaskLeased">["leases"][number]
type Result = EventOf<"TaskCompleted">["results"][number]
type Failure = EventOf<"TaskFailed">["failures"][number]
type Running = { readonly lease: Lease; readonly abort: AbortController; progress: number }

const MAX_BATCH = 1000
/** Bytes of results per TaskCompleted (an event must stay under the server's 1 MB payload). */
const MAX_BATCH_BYTES = 512 * 1024
/** A task's result travels in an event: larger results belong in the Object Store, referenced by name. */
export const MAX_RESULT_BYTES = 256 * 1024
const key = (l: { jobId: string; index: number; attempt: number }) => `${l.jobId}/${l.index}.${l.attempt}`
const ENDED = ["JobCompleted", "JobFailed", "JobCancelled"] as const
/** How long a decision of a term not yet seen claimed waits for that claim. */
const TERM_WAIT_MS = 10_000

export class Worker {
  readonly id: string
  readonly slots: number
  readonly nc: NatsConnection
  readonly log: EventLog
  readonly #handlers: Map<string, TaskHandler>
  readonly #tasks: ReadonlyMap<string, LoadedTask>
  readonly #faults: FaultOptions
  readonly #options: WorkerOptions
  readonly prefetch: number
  readonly #running = new Map<string, Running>()
  /** Leased to this worker, waiting for a free slot, in lease order. */
  readonly #queued = new Map<string, Lease>()
  readonly #subscriptions: Subscription[] = []
  readonly #timers: NodeJS.Timeout[] = []
  #results: Array<{ readonly report: Result; readonly bytes: number }> = []
  #failures: Failure[] = []
  #flushQueued = false
  readonly #unsent = new Set<Promise<void>>()
  #term: TermWatch | undefined
  /** Decisions of a term this worker has not seen claimed yet: acted on once it is, dropped after a while. */
  #pending: Array<{ readonly epoch: number; readonly at: number; readonly act: () => void }> = []
  #leases: Tail | undefined
  #draining = false
  #stopped = false
  completed = 0

  private constructor(nc: NatsConnection, log: EventLog, id: string, options: WorkerOptions) {
    this.nc = nc
    this.log = log
    this.id = id
    this.slots = options.slots ?? 4
    this.prefetch = options.prefetch ?? this.slots
    this.#options = options
    this.#faults = options.faults ?? NO_FAULTS
    this.#handlers = builtinHandlers()
    for (const [kind, handler] of options.handlers ?? []) this.#handlers.set(kind, handler)
    const tasks = options.tasks ?? new Map<string, LoadedTask>()
    this.#tasks = Array.isArray(tasks) ? tasksOf({ tasks }, "WorkerOptions.tasks") : (tasks as ReadonlyMap<string, LoadedTask>)
    for (const [name, task] of this.#tasks) this.#handlers.set(name, task.handler)
  }

  static async start(options: WorkerOptions): Promise<Worker> {
    const id = options.id ?? newProcessId("w")
    const nc = await connectCluster(options.url, { name: `dtq-worker-${id}`, ...(options.credentials === undefined ? {} : { credentials: options.credentials }) })
    try {
      await refuseDuplicate(nc, id)
      const log = await EventLog.open(nc)
      const worker = new Worker(nc, log, id, options)
      // One data set cache for training and inference: a model's training rows are often what it scores.
      const datasets = await DatasetStore.open(nc)
      worker.#handlers.set("train", trainingShareHandler({
        nc,
        tensors: await TensorStore.open(nc),
        datasets,
        report: (gradient) => worker.#write({ type: "GradientReported", ...worker.#envelope(), workerId: id, ...gradient }),
        beforeRound: (signal) => beforeTask(worker.#faults, signal)
      }))
      worker.#handlers.set("infer", inferenceHandler({ log, datasets, models: await ModelStore.open(nc) }))
      await worker.#join()
      return worker
    } catch (error) {
      await nc.close().catch(() => undefined)
      throw error
    }
  }

  get inFlight(): number {
    return this.#running.size + this.#queued.size
  }

  async #join(): Promise<void> {
    const nc = this.nc
    this.#subscriptions.push(
      nc.subscribe(workerPingSubject(this.id), {
        callback: (_e, msg) => {
          msg.respond(JSON.stringify({ workerId: this.id, host: hostname(), pid: process.pid }))
        }
      }),
      // Attempts taken back (lease expired, stalled) or no longer wanted (another copy won) are aborted.
      nc.subscribe(eventTypeSubject("TaskReclaimed", this.id), { callback: (_e, msg) => this.#onAbort(msg.data) }),
      nc.subscribe(eventTypeSubject("AttemptAborted", this.id), { callback: (_e, msg) => this.#onAbort(msg.data) }),
      nc.subscribe(eventTypeSubject("WorkerLost", this.id), { callback: () => void this.#rejoin() }),
      ...ENDED.map((type) => nc.subscribe(eventTypeSubject(type), { callback: (_e, msg) => this.#onJobEnded(msg.data) })),
      nc.subscribe(CHAT_SUBJECT, { callback: (_e, msg) => this.#onChat(msg.data) }),
      ...[...this.#tasks.values()].map((task) =>
        nc.subscribe(taskCheckSubject(task.name), { queue: TASK_CHECK_QUEUE, callback: (_e, msg) => void msg.respond(JSON.stringify(checkInput(task, msg.data))) })
      )
    )
    this.#term = await TermWatch.start(this.log, () => this.#judgePending())
    this.#timers.push(setInterval(() => this.#judgePending(), 1000))
    // Leases come from the log itself (stored, in order), and the consumer exists before the coordinator
    // can lease anything to us: it leases only after folding WorkerJoined.
    this.#leases = await this.log.followSubject(leaseSubject(this.id), (m) => this.#onLeases(m.data))
    await this.#write(this.#joinedEvent())
    void this.#watchConnection()
    const beat = () => nc.publish(heartbeatSubject(this.id), JSON.stringify({ inFlight: this.inFlight, draining: this.#draining }))
    beat()
    this.#timers.push(setInterval(beat, this.#options.heartbeatMs ?? 1000))
    this.#timers.push(setInterval(() => this.#flushProgress(), this.#options.progressMs ?? 1000))
    this.#say(`joined with ${this.slots} slots; runs ${[...this.#handlers.keys()].join(", ")}`)
    const offset = this.#options.clockOffsetMs ?? 0
    if (offset !== 0) this.#say(`test aid: this worker's wall clock is shifted by ${offset > 0 ? "+" : ""}${offset} ms (--clock-offset-ms)`)
  }

  #joinedEvent(): DtqEvent {
    return {
      type: "WorkerJoined",
      ...this.#envelope(),
      workerId: this.id,
      slots: this.slots,
      prefetch: this.prefetch,
      host: hostname(),
      pid: process.pid,
      kinds: [...this.#handlers.keys()]
    }
  }

  /** Declared lost (it was frozen, or cut off): join again; late results of reclaimed attempts may still win. */
  async #rejoin(): Promise<void> {
    if (this.#draining || this.#stopped) return
    this.#say("the coordinator declared this worker lost; joining again")
    await this.#write(this.#joinedEvent()).catch((error: Error) => this.#say(`could not re-join: ${error.message}`))
  }

  async #watchConnection(): Promise<void> {
    const limit = this.#options.offlineExitMs ?? 60_000
    let timer: NodeJS.Timeout | undefined
    for await (const status of this.nc.status()) {
      if (status.type === "disconnect") {
        this.#say(`lost the connection to ${status.server}; reconnecting`)
        if (limit > 0 && timer === undefined) {
          timer = setTimeout(() => {
            this.#options.onOffline?.(`worker ${this.id} could not reach the cluster for ${limit} ms; exiting (--offline-exit-ms 0 keeps trying)`)
          }, limit)
        }
      } else if (status.type === "reconnect") {
        this.#say(`reconnected to ${status.server}`)
        if (timer !== undefined) clearTimeout(timer)
        timer = undefined
      }
    }
    if (timer !== undefined) clearTimeout(timer)
  }

  /**
   * Acts on a decision only if it is of the current term: a deposed or forged term's decision is ignored
   * (the fold fences it, so the work it would stop still counts as running); one of a newer term waits
   * until that term's claim is seen (it is on its way), and is dropped if it never comes.
   */
  #byTerm(epoch: number, act: () => void): void {
    const current = this.#term?.epoch ?? 0
    if (epoch === current || current === 0) return act()
    if (epoch > current) this.#pending.push({ epoch, at: Date.now(), act })
  }

  #judgePending(): void {
    if (this.#pending.length === 0) return
    const current = this.#term?.epoch ?? 0
    const now = Date.now()
    const waiting = this.#pending
    this.#pending = []
    for (const p of waiting) {
      if (p.epoch === current) p.act()
      else if (p.epoch > current && now - p.at < TERM_WAIT_MS) this.#pending.push(p)
    }
  }

  #onAbort(data: Uint8Array): void {
    const decoded = decodeEvent(data)
    if (!decoded.ok || (decoded.event.type !== "TaskReclaimed" && decoded.event.type !== "AttemptAborted")) return
    const event = decoded.event
    this.#byTerm(event.epoch, () => this.#abort(event))
  }

  #abort(event: { jobId: string; index: number; attempt: number; reason: string }): void {
    const k = key(event)
    this.#queued.delete(k)
    const entry = this.#running.get(k)
    if (entry === undefined) return
    entry.abort.abort(new Error(event.reason))
    // The slot is free at once, even if the handler ignores its signal.
    this.#running.delete(k)
    this.#pump()
  }

  #envelope() {
    return { id: newEventId(), v: 1 as const, ts: Date.now() + (this.#options.clockOffsetMs ?? 0), writer: { role: "worker" as const, id: this.id } }
  }

  #onLeases(data: Uint8Array): void {
    const decoded = decodeEvent(data)
    if (!decoded.ok || decoded.event.type !== "TaskLeased" || decoded.event.workerId !== this.id) return
    const event = decoded.event
    // A lease of a deposed coordinator is not honoured: the log would not accept its result anyway. The term
    // comes from the claims in the log (term-watch.ts), never from a lease, so no lease can raise it.
    if (event.epoch < (this.#term?.epoch ?? 0)) return
    // A draining worker still honours leases that were on their way: it finishes all it was given.
    if (this.#stopped) return
    for (const lease of event.leases) {
      const k = key(lease)
      if (!this.#running.has(k)) this.#queued.set(k, lease)
    }
    this.#pump()
  }

  /** Starts queued tasks while slots are free. */
  #pump(): void {
    for (const [k, lease] of this.#queued) {
      if (this.#running.size >= this.slots || this.#stopped) return
      this.#queued.delete(k)
      void this.#run(lease).finally(() => this.#pump())
    }
  }

  async #run(lease: Lease): Promise<void> {
    const entry: Running = { lease, abort: new AbortController(), progress: 0 }
    const signal = entry.abort.signal
    this.#running.set(key(lease), entry)
    const started = performance.now()
    try {
      const handler = this.#handlers.get(lease.kind)
      if (handler === undefined) throw new TaskError(`this worker has no handler for task kind ${lease.kind}`, { retryable: true })
      await beforeTask(this.#faults, signal)
      const returned = await handler(lease.input, {
        signal,
        jobId: lease.jobId,
        index: lease.index,
        attempt: lease.attempt,
        progress: (fraction) => {
          if (fraction > entry.progress) entry.progress = Math.min(1, fraction)
        }
      })
      afterTask(this.#faults)
      if (signal.aborted) return
      const result = returned === undefined ? null : returned // a task that returns nothing returns null
      const problem = typeof result === "string" ? undefined : jsonProblem(result, "the result")
      if (problem !== undefined) throw new TaskError(`${problem.path} ${problem.reason}`, { retryable: false })
      const size = resultBytes(result)
      if (size > MAX_RESULT_BYTES) {
        throw new TaskError(`the result is ${size} bytes of JSON; a result may have at most ${MAX_RESULT_BYTES} (store bulk data in the Object Store and return its name)`, { retryable: false })
      }
      this.#results.push({ report: { jobId: lease.jobId, index: lease.index, attempt: lease.attempt, result, ms: performance.now() - started }, bytes: size })
      this.completed++
    } catch (error) {
      if (signal.aborted) return
      // A TaskError says whether to retry; so may any error with a boolean `retryable` (JavaScript modules).
      const flag = (error as { retryable?: unknown } | null)?.retryable
      const retryable = error instanceof TaskError ? error.retryable : typeof flag === "boolean" ? flag : true
      const message = error instanceof Error ? error.message : String(error)
      this.#failures.push({ jobId: lease.jobId, index: lease.index, attempt: lease.attempt, error: message.slice(0, 2000), retryable })
    } finally {
      if (this.#running.get(key(lease)) === entry) this.#running.delete(key(lease))
    }
    this.#queueFlush()
  }

  #onJobEnded(data: Uint8Array): void {
    const decoded = decodeEvent(data)
    if (!decoded.ok || !("jobId" in decoded.event) || !("epoch" in decoded.event)) return
    const jobId = decoded.event.jobId
    this.#byTerm(decoded.event.epoch, () => this.#endJob(jobId))
  }

  #endJob(jobId: string): void {
    for (const [k, lease] of this.#queued) if (lease.jobId === jobId) this.#queued.delete(k)
    for (const entry of this.#running.values()) {
      if (entry.lease.jobId === jobId) entry.abort.abort(new Error(`job ${jobId} ended`))
    }
  }

  #onChat(data: Uint8Array): void {
    try {
      const { from, text } = JSON.parse(new TextDecoder().decode(data)) as { from?: unknown; text?: unknown }
      this.#say(`chat from ${String(from)}: ${String(text)}`)
    } catch {
      // not a chat message of ours
    }
  }

  /** Coalesces every result of this turn of the event loop into one event. */
  #queueFlush(): void {
    if (this.#flushQueued) return
    this.#flushQueued = true
    setImmediate(() => {
      this.#flushQueued = false
      this.#flush()
    })
  }

  #flush(): void {
    while (this.#results.length > 0) {
      const results = this.#results.splice(0, batchLength(this.#results, (r) => r.bytes)).map((r) => r.report)
      this.#send({ type: "TaskCompleted", ...this.#envelope(), workerId: this.id, results })
    }
    while (this.#failures.length > 0) {
      const failures = this.#failures.splice(0, batchLength(this.#failures, (f) => f.error.length * 3))
      this.#send({ type: "TaskFailed", ...this.#envelope(), workerId: this.id, failures })
    }
  }

  /** Renews every lease this worker holds (running or queued), with the progress of the running ones. */
  #flushProgress(): void {
    const beats = []
    for (const entry of this.#running.values()) {
      beats.push({ jobId: entry.lease.jobId, index: entry.lease.index, attempt: entry.lease.attempt, progress: entry.progress })
    }
    for (const lease of this.#queued.values()) beats.push({ jobId: lease.jobId, index: lease.index, attempt: lease.attempt, progress: 0 })
    for (let i = 0; i < beats.length; i += MAX_BATCH) {
      this.#send({ type: "ProgressBeat", ...this.#envelope(), workerId: this.id, beats: beats.slice(i, i + MAX_BATCH) })
    }
  }

  /** Sends a fact without blocking the task loop; a failed write is retried with the same id until it lands. */
  #send(event: DtqEvent): void {
    const attempt: Promise<void> = this.#write(event).then(
      () => {
        this.#unsent.delete(attempt)
      },
      (error: Error) => {
        this.#unsent.delete(attempt)
        if (this.#stopped && this.nc.isClosed()) return
        if (error instanceof StreamFull) {
          // Nothing is lost: the fact is kept and sent again (same id) once the operator makes room.
          this.#say(`STREAM FULL: ${error.message}; keeping it and retrying every 5 s`)
          setTimeout(() => this.#send(event), 5000)
          return
        }
        if (error instanceof AppendRefused || error instanceof EventTooLarge) {
          // Refused for good (too large, say): its tasks' leases run out and they are retried elsewhere.
          this.#say(`the log refused ${event.type} (${error.message}); not retrying it`)
          return
        }
        this.#say(`could not record ${event.type} (${error.message}); retrying`)
        setTimeout(() => this.#send(event), 1000)
      }
    )
    this.#unsent.add(attempt)
  }

  async #write(event: DtqEvent): Promise<void> {
    await this.log.append(event)
  }

  #say(line: string): void {
    this.#options.log?.(`[worker ${this.id}] ${line}`)
  }

  /**
   * Stops the worker. With `drain` (SIGTERM): takes no new tasks, lets the running ones finish (up to
   * `drainTimeoutMs`), writes their results, leaves the cluster. Without: aborts running tasks and leaves,
   * which hands them back for a retry elsewhere.
   */
  async stop(options: { drain?: boolean; drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.#stopped) return
    // Every write and wait below is bounded: with the server unreachable a stop still ends in time
    // (drainTimeoutMs + at most 5 x STOP_STEP_MS); what could not be written is reclaimed by the coordinator.
    const bounded = (work: Promise<unknown>) => withinMs(work, STOP_STEP_MS)
    if (options.drain === true) {
      this.#draining = true
      await bounded(this.#write({ type: "WorkerDraining", ...this.#envelope(), workerId: this.id }))
      const deadline = Date.now() + (options.drainTimeoutMs ?? 30_000)
      while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    }
    this.#stopped = true
    this.#queued.clear()
    for (const entry of this.#running.values()) entry.abort.abort(new Error("worker stopping"))
    for (const timer of this.#timers) clearInterval(timer)
    this.#flush()
    this.#flushProgress()
    await bounded(Promise.allSettled([...this.#unsent]))
    // Leaving at once frees whatever this worker still held: the fold reclaims it for a retry elsewhere.
    await bounded(this.#write({ type: "WorkerLeft", ...this.#envelope(), workerId: this.id }))
    for (const sub of this.#subscriptions) sub.unsubscribe()
    await bounded(this.#leases?.stop() ?? Promise.resolve())
    await bounded(this.#term?.stop() ?? Promise.resolve())
    if (!(await bounded(this.nc.drain()))) await this.nc.close().catch(() => undefined)
  }
}

/** How long each step of a stop may take (a write, the lease follower, the connection's drain). */
const STOP_STEP_MS = 5000

/** Resolves true when `work` settles within `ms`, false when it does not (it is then left behind). */
const withinMs = (work: Promise<unknown>, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    work.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true))
    )
  })

/** UTF-8 bytes of a result as JSON (short strings, the built-in kinds' results, are bounded, not measured). */
const resultBytes = (result: unknown): number => {
  if (typeof result === "string" && result.length < 1024) return 3 * result.length + 2
  return jsonByteLength(result)
}

/** How many of the queued reports go into the next event: at most MAX_BATCH, and about MAX_BATCH_BYTES. */
const batchLength = <T>(reports: ReadonlyArray<T>, bytesOf: (report: T) => number): number => {
  let bytes = 0
  const n = Math.min(reports.length, MAX_BATCH)
  for (let i = 0; i < n; i++) {
    bytes += bytesOf(reports[i] as T) + 96
    if (bytes > MAX_BATCH_BYTES && i > 0) return i
  }
  return n
}

/**
 * Answers a producer's question: are these inputs valid for the task (`{inputs: [...]}`), and what are the
 * task's defaults? The first invalid input is named by its index.
 */
const checkInput = (task: LoadedTask, data: Uint8Array): { ok: boolean; error?: string; index?: number; defaults?: unknown; typed: boolean } => {
  const typed = task.definition !== undefined
  let body: { inputs?: unknown }
  try {
    body = data.length === 0 ? {} : (JSON.parse(new TextDecoder().decode(data)) as { inputs?: unknown })
  } catch {
    return { ok: false, error: "the check request is not JSON", typed }
  }
  const defaults = task.definition?.defaults ?? {}
  if (task.definition === undefined || !Array.isArray(body.inputs)) return { ok: true, defaults, typed }
  for (const [index, input] of body.inputs.entries()) {
    const decoded = decodeInput(task.definition, input)
    if (!decoded.ok) return { ok: false, error: decoded.error, index, defaults, typed }
  }
  return { ok: true, defaults, typed }
}

/** Refuses to start a second live worker with the same id (it would receive the other's leases). */
const refuseDuplicate = async (nc: NatsConnection, id: string): Promise<void> => {
  try {
    const reply = await nc.request(workerPingSubject(id), "", { timeout: 500 })
    const other = JSON.parse(new TextDecoder().decode(reply.data)) as { host?: string; pid?: number }
    throw new DuplicateWorker(`worker id ${id} is already in use by a live worker (pid ${other.pid} on ${other.host}); choose another --id`)
  } catch (error) {
    if (error instanceof DuplicateWorker) throw error
    if (error instanceof NoRespondersError || error instanceof TimeoutError) return
    const cause = (error as Error).cause
    if (cause instanceof NoRespondersError || cause instanceof TimeoutError) return
    if (/no responders|timeout/i.test(String(error))) return
    throw error
  }
}
