// Vega-Lite specs of the charts, built from the training report and the activity view: pure functions,
// so a chart is a function of the event log. Each spec carries its data inline; the same rows are
// returned as `data` for data files. Numbers are rounded to 6 significant digits so files compare byte
// for byte across machines and between a live coordinator and a replay.
import type { ActivityView, AttemptView } from "../projections/activity.ts"
import { speedupGroups, type TrainingJobReport, type TrainingReport } from "../reports/training-report.ts"

export type Cell = string | number | boolean | null
export type Row = Record<string, Cell>
export type Chart = {
  /** File-safe: letters, digits, '_' and '-'. */
  readonly name: string
  readonly title: string
  readonly spec: Record<string, unknown>
  readonly data: ReadonlyArray<Row>
}

export const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
export const FONT = "DejaVu Sans"
/** Time series are re-bucketed to at most this many points. */
export const MAX_POINTS = 300
export const MAX_BARS = 2000

/** 6 significant digits, no "-0": deterministic (toPrecision is exact). */
export const round = (x: number): number => (Number.isInteger(x) ? x + 0 : Number(x.toPrecision(6)) + 0)

const safe = (id: string): string => id.replace(/[^A-Za-z0-9_-]/g, "_")

/** Code-point order: the same on every machine (localeCompare is not). */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const chart = (name: string, title: string, data: Row[], body: Record<string, unknown>, subtitle?: string): Chart => ({
  name,
  title,
  data,
  spec: {
    $schema: SCHEMA,
    title: subtitle === undefined ? title : { text: title, subtitle },
    background: "white",
    padding: 10,
    config: { font: FONT },
    data: { values: data },
    ...body
  }
})

const q = (field: string, title: string, extra: Record<string, unknown> = {}) => ({ field, type: "quantitative", title, ...extra })
const n = (field: string, title: string, extra: Record<string, unknown> = {}) => ({ field, type: "nominal", title, ...extra })

const jobLabel = (job: TrainingJobReport): string => job.name ?? job.jobId

// ---- training ----

export const TRAINING_SERIES = ["loss", "test loss", "train accuracy", "test accuracy"] as const

/** Loss (top panel) and accuracy (bottom panel, when there is any) per epoch of one job. */
export const trainingChart = (job: TrainingJobReport): Chart | undefined => {
  const data: Row[] = []
  for (const e of job.epochs) {
    const add = (series: (typeof TRAINING_SERIES)[number], value: number | null | undefined) => {
      if (typeof value === "number" && Number.isFinite(value)) data.push({ epoch: e.epoch, series, value: round(value) })
    }
    add("loss", e.loss)
    add("test loss", e.testLoss)
    add("train accuracy", e.trainAccuracy)
    add("test accuracy", e.testAccuracy)
  }
  if (data.length === 0) return undefined
  const panel = (series: ReadonlyArray<string>, y: Record<string, unknown>) => ({
    width: 560,
    height: 200,
    transform: [{ filter: { field: "series", oneOf: series } }],
    mark: { type: "line", point: true },
    encoding: {
      x: q("epoch", "epoch", { axis: { tickMinStep: 1, format: "d" } }),
      y,
      color: n("series", "series", { scale: { domain: [...TRAINING_SERIES] } }),
      tooltip: [q("epoch", "epoch"), n("series", "series"), q("value", "value", { format: ".4~g" })]
    }
  })
  const panels = [panel(["loss", "test loss"], q("value", "loss (mean per sample)", { scale: { zero: false } }))]
  if (data.some((r) => r.series === "train accuracy" || r.series === "test accuracy")) {
    panels.push(panel(["train accuracy", "test accuracy"], q("value", "accuracy (fraction correct)", { scale: { domain: [0, 1] } })))
  }
  const title = `Training of ${jobLabel(job)}: ${job.model}, ${job.mode}, ${job.workers} worker${job.workers === 1 ? "" : "s"}`
  return chart(`training_${safe(job.jobId)}`, title, data, { vconcat: panels })
}

/** Test accuracy (else train accuracy) per epoch, one line per job. */
export const trainingComparison = (report: TrainingReport): Chart | undefined => {
  const data: Row[] = []
  const seen = new Set<string>()
  for (const job of report.jobs) {
    const hasTest = job.epochs.some((e) => typeof e.testAccuracy === "number")
    const metric = hasTest ? "test accuracy" : "train accuracy"
    let label = `${jobLabel(job)} (${job.model}, ${job.mode})`
    if (seen.has(label)) label = `${label} ${job.jobId}` // two jobs of one name stay two lines
    let any = false
    for (const e of job.epochs) {
      const value = hasTest ? e.testAccuracy : e.trainAccuracy
      if (typeof value !== "number" || !Number.isFinite(value)) continue
      data.push({ job: label, jobId: job.jobId, metric, epoch: e.epoch, accuracy: round(value) })
      any = true
    }
    if (any) seen.add(label)
  }
  if (data.length === 0) return undefined
  return chart("training_comparison", "Accuracy per epoch, by job", data, {
    width: 560,
    height: 300,
    mark: { type: "line", point: true },
    encoding: {
      x: q("epoch", "epoch", { axis: { tickMinStep: 1, format: "d" } }),
      y: q("accuracy", "accuracy (fraction correct)", { scale: { domain: [0, 1] } }),
      color: n("job", "job", { sort: null, legend: { labelLimit: 320 } }),
      tooltip: [n("job", "job"), n("metric", "metric"), q("epoch", "epoch"), q("accuracy", "accuracy", { format: ".4~g" })]
    }
  }, "test accuracy where the job has it, else train accuracy")
}

/**
 * The speed-up rows: the groups of `logs/speedup.csv` (speedupGroups), one line per mode (the group's
 * model, task and sizes join the label only when there are several). Groups without a 1-worker baseline
 * have no speed-up and are left out.
 */
export const speedupRows = (report: TrainingReport): Row[] => {
  const groups = speedupGroups(report)
  const problems = new Set(groups.map((g) => JSON.stringify([g.model, g.task, g.samples, g.batchSize])))
  const rows: Row[] = []
  for (const g of groups) {
    if (g.speedup === undefined) continue
    const series = problems.size === 1 ? g.mode : `${g.model} ${g.task} n=${g.samples} b=${g.batchSize} ${g.mode}`
    rows.push({
      series,
      model: g.model,
      task: g.task,
      mode: g.mode,
      workers: g.workers,
      jobs: g.jobs,
      meanEpochMs: round(g.meanEpochMs),
      samplesPerSec: g.samplesPerSec === undefined ? null : round(g.samplesPerSec),
      speedup: round(g.speedup),
      samples: g.samples,
      batchSize: g.batchSize
    })
  }
  return rows
}

const SPEEDUP_AXIS = "speed-up (× one worker's epoch time)"

/** Speed-up against the number of workers, one line per mode (and comparable group), with the ideal. */
export const speedupChart = (report: TrainingReport): Chart | undefined => {
  const data = speedupRows(report)
  if (data.length === 0) return undefined
  return chart("speedup", "Speed-up against one worker", data, {
    width: 480,
    height: 320,
    layer: [
      {
        transform: [{ aggregate: [], groupby: ["workers"] }, { calculate: "datum.workers", as: "ideal" }],
        mark: { type: "line", strokeDash: [4, 4], color: "#888888" },
        encoding: { x: q("workers", "workers"), y: q("ideal", SPEEDUP_AXIS) }
      },
      {
        mark: { type: "line", point: true },
        encoding: {
          x: q("workers", "workers", { axis: { tickMinStep: 1, format: "d" } }),
          y: q("speedup", SPEEDUP_AXIS),
          color: n("series", "mode", { sort: null }),
          tooltip: [
            n("series", "series"), q("workers", "workers"), q("jobs", "jobs"), q("speedup", "speed-up (×)", { format: ".3~g" }),
            q("meanEpochMs", "mean epoch (ms)", { format: ".4~g" }), q("samplesPerSec", "samples/s", { format: ".4~g" })
          ]
        }
      }
    ]
  }, "dashed: ideal (linear) speed-up")
}

const MODE_ORDER = ["sync", "async", "avg"]

/** Wall time of each completed training job, bars grouped by mode. */
export const wallTimeChart = (report: TrainingReport): Chart | undefined => {
  const data: Row[] = []
  for (const job of report.jobs) {
    if (job.state !== "completed" || job.wallMs === undefined) continue
    data.push({
      job: `${jobLabel(job)} (${job.jobId})`,
      jobId: job.jobId,
      mode: job.mode,
      model: job.model,
      workers: job.workers,
      wallMs: round(job.wallMs),
      wallSeconds: round(job.wallMs / 1000)
    })
  }
  if (data.length === 0) return undefined
  const modes = [...MODE_ORDER, ...[...new Set(data.map((r) => String(r.mode)))].filter((m) => !MODE_ORDER.includes(m)).sort(compare)]
  // One panel per mode with its own x scale: a shared xOffset would leave a gap per job of another mode.
  return chart("wall_time", "Wall time of completed training jobs", data, {
    facet: { column: n("mode", "mode", { sort: modes, header: { labelOrient: "bottom", titleOrient: "bottom" } }) },
    spec: {
      width: { step: 28 },
      height: 300,
      mark: "bar",
      encoding: {
        x: { field: "job", type: "nominal", title: null, sort: null, axis: { labelAngle: -40, labelLimit: 160 } },
        y: q("wallSeconds", "wall time (s)"),
        color: { field: "workers", type: "ordinal", title: "workers" },
        tooltip: [n("job", "job"), n("model", "model"), n("mode", "mode"), q("workers", "workers"), q("wallSeconds", "wall time (s)", { format: ".4~g" })]
      }
    },
    resolve: { scale: { x: "independent" } }
  })
}

// ---- activity ----

export const OUTCOMES = ["running", "completed", "failed", "reclaimed", "aborted"] as const
const OUTCOME_COLOURS = ["#4c78a8", "#54a24b", "#e45756", "#f58518", "#9d9d9d"]

/** What a bar is marked with: a reclaim, else a speculative copy, else a retry; "" for a plain first attempt. */
export const attemptMark = (a: AttemptView): string =>
  a.outcome === "reclaimed" ? "reclaimed" : a.speculative ? "speculative" : a.retry ? "retry" : ""

/**
 * One lane per worker, a bar per attempt from its lease to its end (a running one to the last event),
 * in seconds since the first bar; retries, speculative copies and reclaims are marked. Above `maxBars`
 * attempts, the most recent ones are kept and the title says so.
 */
export const timelineChart = (view: ActivityView, options: { jobId?: string; maxBars?: number } = {}): Chart | undefined => {
  const maxBars = Math.max(1, options.maxBars ?? MAX_BARS)
  const all = options.jobId === undefined ? view.attempts : view.attempts.filter((a) => a.jobId === options.jobId)
  if (all.length === 0) return undefined
  const shown = all.length > maxBars ? all.slice(all.length - maxBars) : all // sorted by leasedAt: the tail is the newest
  const lastTs = view.lastTs ?? 0
  let t0 = Infinity
  for (const a of shown) if (a.leasedAt < t0) t0 = a.leasedAt
  const data: Row[] = shown.map((a) => {
    const end = a.endedAt ?? Math.max(lastTs, a.leasedAt)
    return {
      workerId: a.workerId,
      task: `${a.jobId}/${a.index}.${a.attempt}`,
      jobId: a.jobId,
      index: a.index,
      attempt: a.attempt,
      start: round((a.leasedAt - t0) / 1000),
      end: round((end - t0) / 1000),
      seconds: round((end - a.leasedAt) / 1000),
      outcome: a.outcome,
      mark: attemptMark(a),
      note: a.error ?? a.reason ?? ""
    }
  })
  // Lanes in join order; a worker the view does not know (its join fell out of the log) goes last.
  const order = new Map(view.workers.map((w, i) => [w.workerId, i]))
  const lanes = [...new Set(shown.map((a) => a.workerId))].sort(
    (x, y) => (order.get(x) ?? Infinity) - (order.get(y) ?? Infinity) || compare(x, y)
  )
  let title = options.jobId === undefined ? "Task attempts per worker" : `Task attempts of job ${options.jobId} per worker`
  if (shown.length < all.length) title += ` (the most recent ${shown.length} of ${all.length})`
  else if (options.jobId === undefined && view.droppedAttempts > 0) title += ` (${view.droppedAttempts} older attempts not kept)`
  const name = options.jobId === undefined ? "timeline" : `timeline_${safe(options.jobId)}`
  const y = n("workerId", "worker", { scale: { domain: lanes } })
  const x = q("start", "time since the first attempt shown (s)")
  return chart(name, title, data, {
    width: 800,
    height: Math.max(120, 24 * lanes.length),
    layer: [
      {
        mark: { type: "bar", cornerRadius: 1 },
        encoding: {
          x,
          x2: { field: "end" },
          y,
          color: n("outcome", "outcome", { scale: { domain: [...OUTCOMES], range: OUTCOME_COLOURS } }),
          tooltip: [
            n("task", "task"), n("workerId", "worker"), n("outcome", "outcome"), n("mark", "mark"),
            q("start", "start (s)"), q("seconds", "duration (s)"), n("note", "error or reason")
          ]
        }
      },
      {
        transform: [{ filter: "datum.mark !== ''" }],
        mark: { type: "point", filled: true, size: 40, color: "black" },
        encoding: {
          x,
          y,
          shape: n("mark", "mark", { scale: { domain: ["retry", "speculative", "reclaimed"], range: ["triangle-right", "diamond", "cross"] } }),
          tooltip: [n("task", "task"), n("mark", "mark"), n("note", "error or reason")]
        }
      }
    ]
  })
}

/** Buckets of ceil(span / MAX_POINTS) seconds over the view's seconds: first second, width, count. */
const buckets = (view: ActivityView): { first: number; width: number; count: number } | undefined => {
  const first = view.seconds[0]?.second
  const last = view.seconds.at(-1)?.second
  if (first === undefined || last === undefined) return undefined
  const span = last - first + 1
  const width = Math.ceil(span / MAX_POINTS)
  return { first, width, count: Math.ceil(span / width) }
}

/** Tasks completed and events per second over time, re-bucketed to at most MAX_POINTS points. */
export const throughputChart = (view: ActivityView): Chart | undefined => {
  const b = buckets(view)
  if (b === undefined) return undefined
  const tasks = new Array<number>(b.count).fill(0)
  const events = new Array<number>(b.count).fill(0)
  for (const s of view.seconds) {
    const i = Math.floor((s.second - b.first) / b.width)
    tasks[i] = (tasks[i] ?? 0) + s.tasksCompleted
    events[i] = (events[i] ?? 0) + s.events
  }
  const data: Row[] = []
  for (let i = 0; i < b.count; i++) {
    const t = i * b.width
    data.push({ t, series: "tasks/s", rate: round((tasks[i] ?? 0) / b.width) })
    data.push({ t, series: "events/s", rate: round((events[i] ?? 0) / b.width) })
  }
  const title = b.width === 1 ? "Throughput" : `Throughput (${b.width} s buckets)`
  return chart("throughput", title, data, {
    width: 800,
    height: 260,
    mark: { type: "line", point: { size: 12 } },
    encoding: {
      x: q("t", "time since the first event (s)"),
      y: q("rate", "rate (per second)"),
      color: n("series", "series", { scale: { domain: ["tasks/s", "events/s"] } }),
      tooltip: [q("t", "time (s)"), n("series", "series"), q("rate", "rate (/s)", { format: ".4~g" })]
    }
  })
}

/**
 * Per worker, busy slot-seconds of its attempts within each bucket / (slots × bucket width), in [0, 1];
 * a worker has a cell only for buckets it was present in (joined, not yet gone). Same buckets as throughput.
 */
export const utilisationChart = (view: ActivityView): Chart | undefined => {
  const b = buckets(view)
  if (b === undefined || view.workers.length === 0) return undefined
  const t0 = b.first * 1000
  const bucketMs = b.width * 1000
  const end = t0 + b.count * bucketMs
  const lastTs = view.lastTs ?? end
  const busy = new Map(view.workers.map((w) => [w.workerId, new Array<number>(b.count).fill(0)]))
  for (const a of view.attempts) {
    const cells = busy.get(a.workerId)
    if (cells === undefined) continue
    const from = Math.max(a.leasedAt, t0)
    const to = Math.min(a.endedAt ?? Math.max(lastTs, a.leasedAt), end)
    if (to <= from) continue
    for (let i = Math.floor((from - t0) / bucketMs); i < b.count && t0 + i * bucketMs < to; i++) {
      const lo = Math.max(from, t0 + i * bucketMs)
      const hi = Math.min(to, t0 + (i + 1) * bucketMs)
      cells[i] = (cells[i] ?? 0) + (hi - lo)
    }
  }
  const data: Row[] = []
  for (const w of view.workers) {
    const cells = busy.get(w.workerId) ?? []
    for (let i = 0; i < b.count; i++) {
      const lo = t0 + i * bucketMs
      if (lo + bucketMs <= w.joinedAt || (w.leftAt !== undefined && lo >= w.leftAt)) continue
      const fraction = Math.min(1, Math.max(0, (cells[i] ?? 0) / (w.slots * bucketMs)))
      data.push({ workerId: w.workerId, slots: w.slots, t: i * b.width, tEnd: (i + 1) * b.width, busy: round(fraction) })
    }
  }
  if (data.length === 0) return undefined
  const lanes = view.workers.map((w) => w.workerId)
  const title = b.width === 1 ? "Worker utilisation" : `Worker utilisation (${b.width} s buckets)`
  return chart("utilisation", title, data, {
    width: 800,
    height: Math.max(120, 24 * lanes.length),
    mark: "rect",
    encoding: {
      x: q("t", "time since the first event (s)"),
      x2: { field: "tEnd" },
      y: n("workerId", "worker", { scale: { domain: lanes } }),
      color: q("busy", "busy (fraction)", { scale: { domain: [0, 1], scheme: "blues" } }),
      tooltip: [n("workerId", "worker"), q("slots", "slots"), q("t", "from (s)"), q("tEnd", "to (s)"), q("busy", "busy fraction", { format: ".2f" })]
    }
  })
}

/**
 * Every chart with data, in a fixed order: per-job training charts (job order), comparison, speed-up,
 * wall time, timeline, throughput, utilisation. With `jobId`: only that job's training chart and timeline
 * (the others are about the whole cluster).
 */
export const allCharts = (report: TrainingReport, activity: ActivityView, options: { jobId?: string } = {}): Chart[] => {
  const charts: Array<Chart | undefined> = []
  if (options.jobId !== undefined) {
    for (const job of report.jobs) if (job.jobId === options.jobId) charts.push(trainingChart(job))
    charts.push(timelineChart(activity, { jobId: options.jobId }))
  } else {
    for (const job of report.jobs) charts.push(trainingChart(job))
    charts.push(trainingComparison(report), speedupChart(report), wallTimeChart(report), timelineChart(activity), throughputChart(activity), utilisationChart(activity))
  }
  return charts.filter((c): c is Chart => c !== undefined)
}
