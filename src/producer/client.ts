// The producer's client: submit jobs, follow them to their end, ask the coordinator, cancel, chat.
// Requests go into the log; questions go to the leading coordinator, or to a replay of the log when
// no coordinator answers.
import { NoRespondersError, type NatsConnection } from "@nats-io/transport-node"
import { decodeEvent } from "../domain/event-codec.ts"
import type { DtqEvent } from "../domain/events.ts"
import { newEventId, newJobId, newProcessId } from "../domain/ids.ts"
import { resolveSpec, type ResolvedSpec } from "../domain/job-spec.ts"
import { foldMessage } from "../projections/fold-message.ts"
import { emptyState, isFinished, type ClusterState, type JobPhase } from "../projections/state.ts"
import { jobBlocker, jobView, jobsView, workersView, type JobView, type WorkerView } from "../projections/views.ts"
import { connectCluster } from "../nats/connection.ts"
import { EventLog } from "../nats/event-log.ts"
import { CHAT_SUBJECT, controlSubject, eventTypeSubject } from "../nats/subjects.ts"

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

const END_TYPES = ["JobCompleted", "JobFailed", "JobCancelled", "JobRejected"] as const

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
  static async connect(url: string): Promise<Client> {
    const id = newProcessId("p")
    const nc = await connectCluster(url, { name: `dtq-producer-${id}` })
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

  /** Validates the spec (throws BadSpec naming the field) and writes JobSubmitted. */
  async submit(request: unknown, jobId: string = newJobId()): Promise<{ jobId: string; spec: ResolvedSpec }> {
    const spec = resolveSpec(request)
    await this.log.append({ type: "JobSubmitted", ...this.#envelope(), jobId, spec })
    return { jobId, spec }
  }

  /** Submits and follows the job to its end. */
  async run(request: unknown, onProgress?: (p: Progress) => void): Promise<JobOutcome> {
    const spec = resolveSpec(request)
    const jobId = newJobId()
    const ended = this.#watchEnd(jobId) // subscribed before the job exists: its end cannot be missed
    await this.log.append({ type: "JobSubmitted", ...this.#envelope(), jobId, spec })
    return this.#follow(jobId, spec.tasks, ended, onProgress)
  }

  /** Follows an existing job to its end; rejects when no such job shows up within 2 s (the coordinator may lag). */
  async wait(jobId: string, onProgress?: (p: Progress) => void): Promise<JobOutcome> {
    const ended = this.#watchEnd(jobId)
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
      ended.cancel()
      throw new Error(`unknown job ${jobId}`)
    }
    return this.#follow(jobId, view.tasks, ended, onProgress, view)
  }

  /** Follows a job this client just submitted (it may not be folded yet) to its end. */
  follow(jobId: string, tasks: number, onProgress?: (p: Progress) => void): Promise<JobOutcome> {
    return this.#follow(jobId, tasks, this.#watchEnd(jobId), onProgress)
  }

  #watchEnd(jobId: string): { promise: Promise<DtqEvent>; cancel: () => void } {
    const subs = END_TYPES.map((type) => this.nc.subscribe(eventTypeSubject(type, jobId), { max: 1 }))
    const cancel = () => subs.forEach((s) => s.unsubscribe())
    const promise = Promise.race(
      subs.map(async (sub) => {
        for await (const msg of sub) {
          const decoded = decodeEvent(msg.data)
          if (decoded.ok) return decoded.event
        }
        return new Promise<DtqEvent>(() => undefined) // unsubscribed: never settles
      })
    )
    return { promise, cancel }
  }

  async #follow(
    jobId: string,
    tasks: number,
    ended: { promise: Promise<DtqEvent>; cancel: () => void },
    onProgress?: (p: Progress) => void,
    known?: JobView
  ): Promise<JobOutcome> {
    let finished = known !== undefined && isFinished(known.state) ? known : undefined
    let endEvent: DtqEvent | undefined
    void ended.promise.then((event) => {
      endEvent = event
    })
    try {
      while (finished === undefined && endEvent === undefined) {
        const view = await this.#askJob(jobId)
        if (view !== undefined && isFinished(view.state)) finished = view
        onProgress?.({ done: view?.done ?? 0, tasks, state: view?.state ?? "submitted", coordinator: view !== undefined })
        if (finished === undefined && endEvent === undefined) await Promise.race([ended.promise, sleep(250)])
      }
    } finally {
      ended.cancel()
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
    try {
      return { value: await this.ask<T>(verb, body), replayed: false }
    } catch (error) {
      if (!isNoResponders(error)) throw error
    }
    return { value: fromState((await this.replay()).state), replayed: true }
  }

  jobs(): Promise<Answer<{ jobs: JobView[] }>> {
    return this.askOrReplay("jobs", {}, (state) => ({ jobs: jobsView(state) }))
  }

  workers(): Promise<Answer<{ workers: WorkerView[] }>> {
    return this.askOrReplay("workers", {}, (state) => ({ workers: workersView(state) }))
  }

  /** One job with why it waits (if it does) and its latest task errors. */
  jobDetail(jobId: string): Promise<Answer<JobDetail>> {
    return this.askOrReplay<JobDetail>("job", { jobId }, (state) => {
      const job = state.jobs.get(jobId)
      if (job === undefined) return { error: `unknown job ${jobId}` }
      const blocked = jobBlocker(state, job)
      return { job: jobView(job), ...(blocked === undefined ? {} : { blocked }) }
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

  chat(text: string, from: string = this.id): void {
    this.nc.publish(CHAT_SUBJECT, JSON.stringify({ from, text }))
  }

  /** Rebuilds the whole state from the log (through `untilSeq`, default the newest event). */
  async replay(untilSeq?: number): Promise<{ state: ClusterState; ms: number }> {
    const state = emptyState()
    const t0 = performance.now()
    await this.log.readRange(1, untilSeq, (m) => {
      foldMessage(state, m.seq, m.data)
    })
    return { state, ms: performance.now() - t0 }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined)
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** No process listens on the subject: no coordinator is running (as opposed to a slow one). */
export const isNoResponders = (error: unknown): boolean =>
  error instanceof NoRespondersError || (error instanceof Error && (error.cause instanceof NoRespondersError || /no responders/i.test(error.message)))

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
