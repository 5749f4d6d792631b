// Waiting for a job of user-defined tasks: its outputs in input order, or the error that ended it.
// One subscription per awaited job (`dtq.ev.*.<jobId>`) sees its end and its retries as they are stored.
import type { Subscription } from "@nats-io/transport-node"
import { decodeEvent } from "../domain/event-codec.ts"
import type { DtqEvent, EventOf } from "../domain/events.ts"
import { isFinished } from "../projections/state.ts"
import { RESULTS_PAGE_BYTES, outputsPage, type JobView } from "../projections/views.ts"
import type { Client } from "./client.ts"
import { JobCancelled, TaskFailed, TaskTimeout } from "./errors.ts"

/** What a watcher of a job hears: its progress (polled), and each retry as it is decided. */
export type TaskProgress =
  | { readonly type: "progress"; readonly jobId: string; readonly state: string; readonly done: number; readonly tasks: number; readonly progress: number }
  | { readonly type: "retry"; readonly jobId: string; readonly index: number; readonly attempt: number; readonly error: string; readonly delayMs: number }

export type AwaitOptions = {
  /** Give up after this many ms: the promise rejects with TaskTimeout and the job is cancelled. */
  readonly timeout?: number
  readonly onProgress?: (progress: TaskProgress) => void
  /** How often progress is polled from the coordinator when onProgress is given. Default 250 ms. */
  readonly progressEveryMs?: number
}

const END = new Set(["JobCompleted", "JobFailed", "JobCancelled", "JobRejected"])

/** A job's events as they are stored: `end` settles with its end event; `stop` unsubscribes. */
export type JobWatch = { end: Promise<DtqEvent>; retries: (f: (e: EventOf<"RetryScheduled">) => void) => void; stop: () => void }

/** Subscribes to a job's events before anything can end it. */
export const watchJob = (client: Client, jobId: string): JobWatch => {
  let onRetry: ((e: EventOf<"RetryScheduled">) => void) | undefined
  // Retries heard before a listener is attached (the job can fail and be retried while its submission
  // is still being acknowledged) are kept for it, so none is missed.
  const early: Array<EventOf<"RetryScheduled">> = []
  let settle: (event: DtqEvent) => void = () => undefined
  const end = new Promise<DtqEvent>((resolve) => (settle = resolve))
  const sub: Subscription = client.nc.subscribe(`dtq.ev.*.${jobId}`, {
    callback: (_error, msg) => {
      const decoded = decodeEvent(msg.data)
      if (!decoded.ok) return
      if (END.has(decoded.event.type)) settle(decoded.event)
      else if (decoded.event.type === "RetryScheduled") {
        if (onRetry === undefined) early.push(decoded.event)
        else onRetry(decoded.event)
      }
    }
  })
  const retries = (f: (e: EventOf<"RetryScheduled">) => void) => {
    onRetry = f
    for (const e of early.splice(0)) f(e)
  }
  return { end, retries, stop: () => sub.unsubscribe() }
}

/** How often a wait also asks for the job's state: an end event missed (a reconnect) still ends the wait. */
const RECHECK_MS = 5000

/**
 * The wire outputs of a job, once it ends. With `checkFirst`, the job's current state is asked for at once
 * (it may have ended before the watch began); every wait asks again every few seconds.
 */
export const awaitOutputs = (client: Client, jobId: string, watch: JobWatch, options: AwaitOptions, checkFirst: boolean): Promise<unknown[]> =>
  new Promise<unknown[]>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = []
    let ended = false
    /** The job's end is known: no more timeouts, polls or checks; the outputs may still take a fetch. */
    const end = (outputs: () => Promise<unknown[]>) => {
      if (ended) return
      ended = true
      stop()
      outputs().then(resolve, reject)
    }
    const stop = () => {
      for (const timer of timers) clearTimeout(timer)
      watch.stop()
    }
    void watch.end.then((event) => end(() => outputsOfEnd(client, event)))

    let checking = false
    const check = () => {
      if (ended || checking) return
      checking = true
      client.jobDetail(jobId).then(
        ({ value }) => {
          checking = false
          const view = value.job
          if (view !== undefined && isFinished(view.state)) end(() => outputsOfView(client, view))
        },
        () => (checking = false) // a slow coordinator: the end event or the next check settles the wait
      )
    }
    if (checkFirst) check()
    timers.push(setInterval(check, RECHECK_MS))

    const onProgress = options.onProgress
    if (onProgress !== undefined) {
      watch.retries((e) => ended || onProgress({ type: "retry", jobId, index: e.index, attempt: e.attempt, error: e.reason, delayMs: e.delayMs }))
      let polling = false
      const poll = () => {
        if (ended || polling) return
        polling = true
        client.ask<{ job?: JobView }>("job", { jobId }).then(
          ({ job: view }) => {
            polling = false
            if (!ended && view !== undefined) onProgress({ type: "progress", jobId, state: view.state, done: view.done, tasks: view.tasks, progress: view.progress })
          },
          () => (polling = false)
        )
      }
      timers.push(setInterval(poll, options.progressEveryMs ?? 250))
    }

    if (options.timeout !== undefined) {
      const timeout = options.timeout
      timers.push(
        setTimeout(() => {
          if (ended) return
          ended = true
          stop()
          // Rejected first: the JobCancelled that the cancel request leads to must not win the race.
          reject(new TaskTimeout(jobId, timeout))
          client.requestCancel(jobId, `the producer stopped waiting after ${timeout} ms`).catch(() => undefined)
        }, timeout)
      )
    }
  })

const outputsOfEnd = async (client: Client, event: DtqEvent): Promise<unknown[]> => {
  switch (event.type) {
    case "JobCompleted":
      return event.outputs === undefined ? fetchOutputs(client, event.jobId) : [...event.outputs]
    case "JobFailed":
      throw new TaskFailed(event.jobId, event.reason, event.task)
    case "JobCancelled":
      throw new JobCancelled(event.jobId, event.reason)
    case "JobRejected":
      throw new JobCancelled(event.jobId, `rejected: ${event.reason}`)
    default:
      throw new Error(`unexpected end event ${event.type}`)
  }
}

const outputsOfView = async (client: Client, view: JobView): Promise<unknown[]> => {
  switch (view.state) {
    case "completed":
      return fetchOutputs(client, view.jobId)
    case "failed":
      throw new TaskFailed(view.jobId, view.reason ?? "failed", view.failedTask)
    default:
      throw new JobCancelled(view.jobId, `${view.state === "rejected" ? "rejected: " : ""}${view.reason ?? ""}`)
  }
}

/** Reads a finished job's outputs page by page from the coordinator (or a replay of the log). */
export const fetchOutputs = async (client: Client, jobId: string): Promise<unknown[]> => {
  const outputs: unknown[] = []
  for (;;) {
    const { value } = await client.askOrReplay<{ total?: number; outputs?: unknown[]; error?: string }>("results", { jobId, offset: outputs.length }, (state) => {
      const job = state.jobs.get(jobId)
      return job === undefined ? { error: `unknown job ${jobId}` } : (outputsPage(job, outputs.length, RESULTS_PAGE_BYTES) ?? { error: `job ${jobId} has no task outputs` })
    })
    if (value.error !== undefined || value.outputs === undefined || value.total === undefined) throw new Error(value.error ?? `no outputs for job ${jobId}`)
    outputs.push(...value.outputs)
    if (outputs.length >= value.total || value.outputs.length === 0) return outputs
  }
}
