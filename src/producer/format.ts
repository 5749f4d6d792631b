// Text output for people: tables, a progress bar, one-line event descriptions.
import type { DtqEvent } from "../domain/events.ts"
import type { JobView, WorkerView } from "../projections/views.ts"
import { CLOCK_SKEW_WARN_MS } from "../projections/clock-skew.ts"

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

export const duration = (ms: number | undefined | null): string => {
  if (ms === undefined || ms === null) return "-"
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 120_000) return `${(ms / 1000).toFixed(2)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

export const jobsTable = (jobs: ReadonlyArray<JobView>, total = jobs.length): string =>
  jobs.length === 0
    ? "no jobs yet"
    : (total > jobs.length ? `the newest ${jobs.length} of ${total} jobs\n` : "") +
      table(
        ["JOB", "KIND", "STATE", "TASKS", "DONE", "RUNNING", "FAILURES", "TIME", "RESULT"],
        jobs.map((j) => [
          j.jobId,
          j.task === undefined ? j.kind : `task ${j.task}`,
          j.state,
          String(j.tasks),
          String(j.done),
          String(j.running),
          String(j.failures),
          duration(j.durationMs),
          clip(j.result ?? j.reason ?? "", 60)
        ])
      )

/** `dtq jobs`' last line: finished jobs retained, expired, and the policy when a coordinator answered. */
export const retentionLine = (r: { retained: number; expired: number; policy?: { maxAgeMs: number; maxJobs: number } }): string =>
  `${r.retained} finished job(s) retained, ${r.expired} expired` +
  (r.policy === undefined ? "" : ` (kept ${duration(r.policy.maxAgeMs)} after they end, at most ${r.policy.maxJobs})`)

export const jobDetail = (j: JobView, lastErrors: ReadonlyArray<{ index: number; error: string }> = []): string => {
  const lines = [
    `job       ${j.jobId}${j.name === undefined ? "" : ` (${j.name})`}`,
    `kind      ${kindLine(j.spec)}`,
    ...(j.priority === 0 ? [] : [`priority  ${j.priority}`]),
    ...(j.runAt === undefined ? [] : [`runs at   ${new Date(j.runAt).toISOString()}`]),
    `state     ${j.state}`,
    `tasks     ${j.done}/${j.tasks} done, ${j.running} running, ${j.failures} failed attempts, ${j.duplicates} duplicate results`,
    ...(j.state === "running" ? [`progress  ${Math.round(j.progress * 100)} %`] : []),
    `policy    maxAttempts=${j.spec.maxAttempts} backoffMs=${j.spec.backoffMs} leaseMs=${j.spec.leaseMs} timeoutMs=${j.spec.maxTaskMs}`,
    `submitted ${new Date(j.submittedAt).toISOString()}`,
    `time      ${duration(j.durationMs ?? (j.startedAt === undefined ? undefined : Date.now() - j.submittedAt))}`
  ]
  const inf = j.inference
  if (inf !== undefined) {
    lines.push(`rows      ${inf.rowsDone}/${inf.rows} predicted in batches of ${inf.batchSize}${inf.batchSizeRequested === undefined ? "" : ` (changing to ${inf.batchSizeRequested})`}, share ${inf.share}`)
    if (inf.accuracy !== undefined) lines.push(`accuracy  ${inf.accuracy.toFixed(4)} so far (${inf.correct} of ${inf.rowsDone})`)
    if (inf.stored !== undefined) lines.push(`output    ${inf.stored.predictions.bucket}/${inf.stored.predictions.name} (${inf.stored.predictions.rows} predictions; dtq predictions ${j.jobId})`)
  }
  const st = j.stats
  if (st !== undefined) {
    const lat = st.latencyMs
    lines.push(`rate      ${st.rate.toFixed(1)} ${st.rateUnit}/s (${st.windowSeconds} s moving)${st.quota === undefined ? "" : `, fair-share quota ${st.quota} lease(s)`}`)
    if (lat !== undefined) lines.push(`latency   p50 ${duration(lat.p50)}  p90 ${duration(lat.p90)}  p95 ${duration(lat.p95)}  p99 ${duration(lat.p99)} per ${j.kind === "infer" ? "batch" : "task"}`)
    const placed = Object.entries(st.workers).map(([w, n]) => `${w} (${n})`)
    if (placed.length > 0) lines.push(`workers   ${placed.join(", ")}`)
  }
  if (j.result !== undefined) lines.push(`result    ${j.result}`)
  if (j.reason !== undefined) lines.push(`reason    ${j.reason}`)
  for (const e of lastErrors) lines.push(`error     task ${e.index}: ${e.error}`)
  return lines.join("\n")
}

const kindLine = (spec: JobView["spec"]): string => {
  if (spec.kind === "task") return `task ${spec.task}`
  if (spec.kind === "train") {
    return `train ${spec.model} ${spec.task} mode=${spec.mode} epochs=${spec.epochs} batchSize=${spec.batchSize} lr=${spec.lr} seed=${spec.seed} on ${spec.samples} rows of ${spec.data.source}`
  }
  if (spec.kind === "infer") return `infer with ${spec.model.job} (${spec.trained.model}) on ${spec.data.rows} rows of ${spec.data.source}, share ${spec.share}`
  return `${spec.kind}  [${spec.from} .. ${spec.to}]`
}

export const workersTable = (workers: ReadonlyArray<WorkerView>, verbose: boolean): string => {
  if (workers.length === 0) return "no workers have joined"
  const header = ["WORKER", "STATE", "SLOTS", "IN FLIGHT", "ASSIGNED", "COMPLETED", "FAILED", "MEAN TASK", "CLOCK", "SERVING"]
  const rows = workers.map((w) => [
    w.workerId,
    w.state,
    String(w.slots),
    String(w.inFlight),
    String(w.assigned),
    String(w.completed),
    String(w.failed),
    w.meanTaskMs === undefined ? "-" : `${w.meanTaskMs.toFixed(3)} ms`,
    clockCell(w),
    Object.entries(w.jobs ?? {}).map(([job, n]) => `${job} x${n}`).join(", ") || "-"
  ])
  const skewed = workers.filter((w) => w.clockSkewed && (w.state === "live" || w.state === "draining"))
  const warning = skewed.length === 0 ? "" : `\n${skewed.map((w) => `warning: ${w.workerId}'s clock is ${clockCell(w)} off the stream's (bound ±${CLOCK_SKEW_WARN_MS} ms): its work is unaffected, fix its clock (NTP)`).join("\n")}`
  if (!verbose) return table(header, rows) + warning
  return table(
    [...header, "HOST", "PID", "KINDS"],
    rows.map((r, i) => [...r, workers[i]?.host ?? "", String(workers[i]?.pid ?? ""), (workers[i]?.kinds ?? []).join(",")])
  ) + warning
}

/** A worker's clock offset from the stream's; `!` marks one beyond the skew bound. */
const clockCell = (w: WorkerView): string => {
  if (w.clockOffsetMs === null || w.clockOffsetMs === undefined) return "-"
  const ms = w.clockOffsetMs
  const text = Math.abs(ms) >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`
  return `${ms >= 0 ? "+" : ""}${text}${w.clockSkewed ? " !" : ""}`
}

export const progressBar = (done: number, total: number, width = 30): string => {
  const fraction = total === 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(fraction * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${total} tasks`
}

/** The details of an event after its envelope, in one line. */
export const eventDetails = (event: DtqEvent): string => {
  switch (event.type) {
    case "JobSubmitted": {
      const s = event.spec
      if (s.kind === "task") return `${event.jobId} task ${s.task} x ${s.tasks}${s.priority ? ` priority ${s.priority}` : ""}${s.runAt === undefined ? "" : ` at ${new Date(s.runAt).toISOString()}`}`
      if (s.kind === "train") return `${event.jobId} train ${s.model} ${s.task} ${s.mode} on ${s.samples} rows of ${s.data.source}, ${s.epochs} epoch(s), ${s.tasks} share(s)`
      if (s.kind === "infer") return `${event.jobId} infer with ${s.model.job} on ${s.data.rows} rows of ${s.data.source} in ${s.tasks} batches of ${s.batchSize}, share ${s.share}`
      return `${event.jobId} ${s.kind} [${s.from} .. ${s.to}] in ${s.tasks} tasks`
    }
    case "TaskLeased":
      return `${event.leases.length} lease(s) to ${event.workerId}${event.leases.some((l) => l.speculative === true) ? " (speculative)" : ""}: ${summarizeRefs(event.leases)}`
    case "TaskCompleted":
      return `${event.results.length} result(s) from ${event.workerId}: ${summarizeRefs(event.results)}`
    case "TaskFailed":
      return `${event.failures.length} failure(s) from ${event.workerId}: ${event.failures.slice(0, 3).map((f) => `${f.jobId}#${f.index}.${f.attempt} ${f.retryable ? "" : "[fatal] "}${clip(f.error, 60)}`).join("; ")}`
    case "ProgressBeat":
      return `${event.beats.length} beat(s) from ${event.workerId}`
    case "WorkerJoined":
      return `${event.workerId} with ${event.slots} slots on ${event.host} pid ${event.pid}`
    case "CoordinatorElected":
      return `epoch ${event.epoch} on ${event.host} pid ${event.pid}`
    case "CoordinatorStarted":
      return `${event.writer.id} on ${event.host} pid ${event.pid}`
    case "RetryScheduled":
      return `${event.jobId}#${event.index} after attempt ${event.attempt}: retry in ${event.delayMs} ms (${clip(event.reason, 60)})`
    case "TaskReclaimed":
      return `${event.jobId}#${event.index}.${event.attempt} from ${event.workerId}: ${event.reason}`
    case "AttemptAborted":
      return `${event.jobId}#${event.index}.${event.attempt} on ${event.workerId}: ${event.reason}`
    case "TasksScheduled":
      return `${event.jobId}: ${event.count} tasks`
    case "JobCompleted":
      return `${event.jobId} = ${clip(event.result, 80)}`
    case "JobFailed":
    case "JobCancelled":
    case "JobRejected":
      return `${event.jobId}: ${clip(event.reason, 100)}`
    case "JobCancelRequested":
      return `${event.jobId}${event.reason === undefined ? "" : `: ${event.reason}`}`
    case "WorkerLost":
      return `${event.workerId}: ${event.reason}`
    case "WorkerDraining":
    case "WorkerLeft":
      return event.workerId
    case "GradientReported":
      return `${event.jobId}#${event.index}.${event.attempt} on v${event.version} (epoch ${event.epoch} batch ${event.batch}, ${event.rows} rows, loss ${(event.loss / Math.max(1, event.rows)).toFixed(4)}) from ${event.workerId}`
    case "ModelUpdated":
      return `${event.jobId} v${event.version}${event.applied.length === 0 ? " (initial)" : ` from ${event.applied.length} gradient(s)`} ${event.tensor.digest.slice(7, 19)}`
    case "GradientDropped":
      return `${event.jobId}#${event.gradient.index}.${event.gradient.attempt} on v${event.gradient.version}: ${event.reason}`
    case "EpochCompleted":
      return `${event.jobId} epoch ${event.trainingEpoch}: loss ${event.loss.toFixed(4)}${event.testAccuracy == null ? "" : ` test accuracy ${event.testAccuracy.toFixed(4)}`} in ${duration(event.ms)}`
    case "EarlyStopped":
      return `${event.jobId} at epoch ${event.trainingEpoch}: ${event.reason}`
    case "TrainingFinished":
      return `${event.jobId} v${event.version} after ${event.epochs} epoch(s)${event.testAccuracy == null ? "" : `, test accuracy ${event.testAccuracy.toFixed(4)}`}, model ${event.model.name}`
    case "BatchSizeRequested":
      return `${event.jobId}: batches of ${event.batchSize}`
    case "BatchSizeChanged":
      return `${event.jobId}: batches of ${event.batchSize} from task ${event.fromTask} (row ${event.fromRow}), ${event.count} tasks`
    case "PredictionsStored":
      return `${event.jobId}: ${event.predictions.rows} predictions in ${event.predictions.bucket}/${event.predictions.name}${event.accuracy === undefined ? "" : `, accuracy ${event.accuracy.toFixed(4)}`}`
    case "SharesAllocated":
      return `${event.capacity} leases: ${event.jobs.map((j) => `${j.jobId}=${j.quota}`).join(" ")} (${clip(event.reason, 60)})`
    case "LogCompacted":
      return `events through #${event.throughSeq} purged behind snapshot #${event.snapshotSeq} (${clip(event.reason, 60)})`
    case "JobsExpired":
      return `${event.jobIds.length} finished job(s) expired (${clip(event.reason, 60)}): ${event.jobIds.slice(0, 4).join(", ")}${event.jobIds.length > 4 ? `, … (+${event.jobIds.length - 4})` : ""}`
  }
}

const summarizeRefs = (refs: ReadonlyArray<{ jobId: string; index: number; attempt: number }>): string => {
  const shown = refs.slice(0, 4).map((r) => `${r.jobId}#${r.index}.${r.attempt}`)
  return refs.length > 4 ? `${shown.join(", ")}, … (+${refs.length - 4})` : shown.join(", ")
}
