// Request/reply endpoints of the leading coordinator: read models of its live projections.
import { hostname } from "node:os"
import type { Msg, Subscription } from "@nats-io/transport-node"
import { stateDigest } from "../projections/digest.ts"
import { JOBS_LISTED, RESULTS_PAGE_BYTES, jobBlocker, jobView, jobsView, outputsPage, summaryView, workersView } from "../projections/views.ts"
import { jobFilterFrom, matchesJob } from "../projections/job-filter.ts"
import { EVENTS_STREAM, controlSubject } from "../nats/subjects.ts"
import type { Coordinator, SnapshotInfo } from "./coordinator.ts"
import { trainingReport } from "../reports/training-report.ts"
import { isFinished } from "../projections/state.ts"
import type { ClockEstimate } from "./stream-clock.ts"

export type InfoReply = {
  readonly leader: string
  readonly epoch: number
  readonly host: string
  readonly pid: number
  readonly appliedSeq: number
  readonly streamLastSeq: number
  readonly streamReplicas: number
  readonly digest: string
  readonly standbys: ReadonlyArray<{ id: string; host: string; pid: number; appliedSeq: number }>
  readonly snapshot: SnapshotInfo | null
  readonly summary: ReturnType<typeof summaryView>
  /** The leader's estimate of the stream's time, the clock of its decisions (stream-clock.ts). */
  readonly clock: ClockEstimate
  /** This process's memory (process.memoryUsage(), bytes): flat over a long run, with retention. */
  readonly memory?: { readonly rss: number; readonly heapUsed: number; readonly heapTotal: number; readonly external: number }
  /** The stream's size and limits, and the last refusal of a full stream (until a write lands again). */
  readonly stream?: {
    readonly firstSeq: number
    readonly messages: number
    readonly bytes: number
    readonly maxBytes: number
    readonly maxMsgs: number
    readonly full: { readonly at: number; readonly message: string } | null
  }
}

const reply = (msg: Msg, value: unknown): void => {
  msg.respond(JSON.stringify(value))
}

const requestBody = (msg: Msg): Record<string, unknown> => {
  try {
    const value: unknown = msg.data.length === 0 ? {} : JSON.parse(new TextDecoder().decode(msg.data))
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

export const serveControl = (coordinator: Coordinator): Subscription[] => {
  const { nc } = coordinator
  const handle = (verb: string, answer: (msg: Msg) => unknown | Promise<unknown>): Subscription =>
    nc.subscribe(controlSubject(verb), {
      callback: (_error, msg) => {
        Promise.resolve()
          .then(() => answer(msg))
          .then(
            (value) => reply(msg, value),
            (error: Error) => reply(msg, { error: error.message })
          )
      }
    })
  return [
    handle("info", async (msg): Promise<InfoReply> => {
      // A benchmark measures retained memory: with node --expose-gc it may ask for a collection first.
      const gc = (globalThis as { gc?: () => void }).gc
      if (requestBody(msg).gc === true && gc !== undefined) gc()
      const stream = await coordinator.log.jsm.streams.info(EVENTS_STREAM).catch(() => undefined)
      const state = coordinator.state
      return {
        leader: coordinator.id,
        epoch: coordinator.epoch,
        host: hostname(),
        pid: process.pid,
        appliedSeq: state.seq,
        streamLastSeq: stream?.state.last_seq ?? -1,
        streamReplicas: stream?.config.num_replicas ?? 0,
        digest: stateDigest(state),
        standbys: coordinator.peers.filter((p) => !p.leading).map(({ id, host, pid, appliedSeq }) => ({ id, host, pid, appliedSeq })),
        snapshot: coordinator.lastSnapshot ?? null,
        summary: summaryView(state),
        clock: coordinator.clock.estimate(),
        memory: (({ rss, heapUsed, heapTotal, external }) => ({ rss, heapUsed, heapTotal, external }))(process.memoryUsage()),
        ...(stream === undefined
          ? {}
          : {
              stream: {
                firstSeq: stream.state.first_seq,
                messages: stream.state.messages,
                bytes: stream.state.bytes,
                maxBytes: stream.config.max_bytes,
                maxMsgs: stream.config.max_msgs,
                full: coordinator.streamFull ?? null
              }
            })
      }
    }),
    handle("compact", (msg) => {
      const keep = Number(requestBody(msg).keepEvents ?? 0)
      if (!Number.isInteger(keep) || keep < 0) return { compacted: false, reason: `keepEvents ${requestBody(msg).keepEvents} is not a whole number >= 0` }
      return coordinator.compact(keep, "dtq compact")
    }),
    handle("jobs", (msg) => {
      const filter = jobFilterFrom(requestBody(msg))
      const view = jobsView(coordinator.state, JOBS_LISTED, Object.keys(filter).length === 0 ? undefined : (job) => matchesJob(job, filter))
      return { ...view, retention: { ...view.retention, policy: coordinator.retention } }
    }),
    handle("job", (msg) => {
      const jobId = String(requestBody(msg).jobId ?? "")
      const job = coordinator.state.jobs.get(jobId)
      if (job === undefined) return { error: `unknown job ${jobId}` }
      return {
        job: jobView(job, { now: coordinator.clock.now(), allocation: coordinator.state.allocation }),
        blocked: jobBlocker(coordinator.state, job, coordinator.clock.now()),
        lastErrors: [...job.lastError.entries()].slice(-5).map(([index, error]) => ({ index, error }))
      }
    }),
    handle("workers", () => ({ workers: workersView(coordinator.state) })),
    handle("training", () => trainingReport(coordinator.state)),
    // A training share starting (or restarting after a reclaim) asks where the training stands.
    handle("train-state", (msg) => {
      const body = requestBody(msg)
      const jobId = String(body.jobId ?? "")
      const job = coordinator.state.jobs.get(jobId)
      if (job?.training === undefined || job.spec.kind !== "train") return { error: `job ${jobId} is not a training job` }
      const share = Number(body.share ?? 0)
      const t = job.training
      return {
        spec: job.spec,
        version: t.version,
        tensor: t.tensor,
        // A share may ask before its job's TasksScheduled is folded here: queued is not finished.
        finished: t.finished !== undefined || isFinished(job.phase),
        next: t.shareNext[share] ?? { epoch: 1, batch: share }
      }
    }),
    handle("results", (msg) => {
      const body = requestBody(msg)
      const jobId = String(body.jobId ?? "")
      const job = coordinator.state.jobs.get(jobId)
      if (job === undefined) return { error: `unknown job ${jobId}` }
      const page = outputsPage(job, Number(body.offset ?? 0) || 0, RESULTS_PAGE_BYTES)
      return page ?? { error: `job ${jobId} is a ${job.spec.kind} job: its result is ${job.result ?? "not in yet"}` }
    })
  ]
}
