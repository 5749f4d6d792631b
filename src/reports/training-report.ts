// What training runs did, for people and plots: a plain report built from the cluster state, and CSV
// texts built from the report. Pure: no I/O, no clock. The report is plain JSON (no Map, no undefined
// values, no typed arrays) because it travels over NATS as a control reply and is also rebuilt from a
// replay: both ways must print the same CSV.
//
// Also here: the weights CSV (one row per output unit, readable in a spreadsheet) and its parser, which
// `dtq train init=weights wFile=...` uses and which also takes a plain list of numbers.
import type { ModelKind, TrainingMode } from "../domain/train-spec.ts"
import type { ClusterState, JobPhase } from "../projections/state.ts"
import type { EpochRecord, TrainingState } from "../projections/training.ts"
import { layoutOf } from "../training/shape.ts"

export type TrainingFinishedFigures = NonNullable<TrainingState["finished"]>

/** One training job. Optional fields are absent (never `undefined`), so a JSON round trip is the identity. */
export type TrainingJobReport = {
  readonly jobId: string
  readonly name?: string
  readonly model: ModelKind
  readonly task: string
  readonly mode: TrainingMode
  /** Shares of the work (spec.tasks). */
  readonly workers: number
  readonly samples: number
  readonly batchSize: number
  readonly epochsPlanned: number
  readonly lr: number
  readonly seed: number
  readonly state: JobPhase
  readonly submittedAt: number
  readonly startedAt?: number
  readonly endedAt?: number
  readonly wallMs?: number
  readonly epochs: ReadonlyArray<EpochRecord>
  readonly finished?: TrainingFinishedFigures
  readonly stoppedEarly: boolean
}

export type TrainingReport = { readonly jobs: ReadonlyArray<TrainingJobReport> }

/** Every training job of the state, in submission (log) order. */
export const trainingReport = (state: ClusterState): TrainingReport => {
  const jobs: TrainingJobReport[] = []
  for (const job of state.jobs.values()) {
    const spec = job.spec
    if (spec.kind !== "train") continue
    const t = job.training
    const finished = t?.finished
    jobs.push({
      jobId: job.jobId,
      ...(spec.name === undefined ? {} : { name: spec.name }),
      model: spec.model,
      task: spec.task,
      mode: spec.mode,
      workers: spec.tasks,
      samples: spec.samples,
      batchSize: spec.batchSize,
      epochsPlanned: spec.epochs,
      lr: spec.lr,
      seed: spec.seed,
      state: job.phase,
      submittedAt: job.submittedAt,
      ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt }),
      ...(job.endedAt === undefined ? {} : { endedAt: job.endedAt }),
      ...(job.startedAt === undefined || job.endedAt === undefined ? {} : { wallMs: job.endedAt - job.startedAt }),
      // Copies through JSON: the report must not alias the fold's state, nor carry undefined values.
      epochs: jsonCopy(t?.epochs ?? []),
      ...(finished === undefined ? {} : { finished: jsonCopy(finished) }),
      stoppedEarly: t?.stopped !== undefined || finished?.stoppedEarly === true
    })
  }
  return { jobs }
}

const jsonCopy = <A>(value: A): A => JSON.parse(JSON.stringify(value)) as A

// ---- CSV cells ----

/**
 * A number with up to `digits` significant digits, trailing zeros dropped; whole numbers, and values of
 * 10^digits or more, print as integers (no exponent for big timings). Deterministic: toPrecision is exact.
 */
export const formatNumber = (x: number, digits = 6): string => {
  if (!Number.isFinite(x)) return String(x)
  if (Number.isInteger(x) || Math.abs(x) >= 10 ** digits) return String(Math.round(x) + 0) // + 0: no "-0"
  return String(Number(x.toPrecision(digits)) + 0)
}

type Cell = string | number | boolean | null | undefined

/** RFC 4180: a text cell with a comma, quote or line break is quoted, its quotes doubled. */
const cell = (value: Cell): string => {
  if (value === null || value === undefined) return ""
  if (typeof value === "number") return formatNumber(value)
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

const csv = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>): string =>
  [header.join(","), ...rows.map((row) => row.map(cell).join(","))].join("\n") + "\n"

// ---- the CSV files ----

export const EPOCHS_HEADER = ["epoch", "version", "loss", "train_accuracy", "test_loss", "test_accuracy", "ms", "samples", "samples_per_sec", "workers", "mode"] as const

/** One row per recorded epoch of a job. */
export const epochsCsv = (job: TrainingJobReport): string =>
  csv(
    EPOCHS_HEADER,
    job.epochs.map((e) => [e.epoch, e.version, e.loss, e.trainAccuracy, e.testLoss, e.testAccuracy, e.ms, e.samples, e.samplesPerSec, e.workers, e.mode])
  )

export const SUMMARY_HEADER = [
  "job", "name", "model", "task", "mode", "workers", "samples", "batch_size", "epochs", "lr", "seed", "state",
  "wall_ms", "final_loss", "train_accuracy", "test_accuracy", "stopped_early"
] as const

/** One row per job. The final figures are the TrainingFinished ones, else those of the last epoch recorded. */
export const jobSummariesCsv = (report: TrainingReport): string =>
  csv(
    SUMMARY_HEADER,
    report.jobs.map((j) => {
      const last = j.finished ?? j.epochs.at(-1)
      return [
        j.jobId, j.name, j.model, j.task, j.mode, j.workers, j.samples, j.batchSize, j.epochsPlanned, j.lr, j.seed, j.state,
        j.wallMs, last?.loss, last?.trainAccuracy, last?.testAccuracy, j.stoppedEarly
      ]
    })
  )

/**
 * Speed-up against one worker. Completed jobs with at least one epoch are grouped by what makes their
 * epochs comparable (model, task, samples, batch size), then by mode and worker count; a row pools the
 * epochs of its jobs. speedup = the 1-worker row's mean epoch time / this row's (empty without a 1-worker
 * row). samples and batch_size come last so that the leading columns keep their documented order.
 */
export const SPEEDUP_HEADER = ["model", "task", "mode", "workers", "jobs", "mean_epoch_ms", "samples_per_sec", "speedup", "samples", "batch_size"] as const

/** Completed training jobs with epochs, pooled by what makes their epochs comparable, mode and workers. */
export type SpeedGroup = {
  readonly model: string
  readonly task: string
  readonly samples: number
  readonly batchSize: number
  readonly mode: string
  readonly workers: number
  readonly jobs: number
  readonly meanEpochMs: number
  /** Rows per second over the pooled epochs; undefined when they took no time. */
  readonly samplesPerSec: number | undefined
  /** The 1-worker group's mean epoch time over this one's; undefined without a 1-worker group. */
  readonly speedup: number | undefined
}

/** The speed-up groups in a fixed order (model, task, mode, workers, samples, batch size): the CSV and the chart both. */
export const speedupGroups = (report: TrainingReport): SpeedGroup[] => {
  type Sums = { model: string; task: string; samples: number; batchSize: number; mode: string; workers: number; jobs: number; ms: number; epochs: number; rows: number }
  const byKey = new Map<string, Sums>()
  for (const j of report.jobs) {
    if (j.state !== "completed" || j.epochs.length === 0) continue
    const key = JSON.stringify([j.model, j.task, j.samples, j.batchSize, j.mode, j.workers])
    let row = byKey.get(key)
    if (row === undefined) {
      row = { model: j.model, task: j.task, samples: j.samples, batchSize: j.batchSize, mode: j.mode, workers: j.workers, jobs: 0, ms: 0, epochs: 0, rows: 0 }
      byKey.set(key, row)
    }
    row.jobs++
    for (const e of j.epochs) {
      row.ms += e.ms
      row.rows += e.samples
      row.epochs++
    }
  }
  const mean = (row: Sums) => row.ms / row.epochs
  return [...byKey.values()]
    .sort(
      (a, b) =>
        compare(a.model, b.model) || compare(a.task, b.task) || compare(a.mode, b.mode) ||
        a.workers - b.workers || a.samples - b.samples || a.batchSize - b.batchSize
    )
    .map((row) => {
      const single = byKey.get(JSON.stringify([row.model, row.task, row.samples, row.batchSize, row.mode, 1]))
      const { ms: _ms, epochs: _e, rows: _r, ...group } = row
      return {
        ...group,
        meanEpochMs: mean(row),
        samplesPerSec: row.ms === 0 ? undefined : row.rows / (row.ms / 1000),
        speedup: single === undefined || mean(row) === 0 ? undefined : mean(single) / mean(row)
      }
    })
}

export const speedupCsv = (report: TrainingReport): string =>
  csv(
    SPEEDUP_HEADER,
    speedupGroups(report).map((g) => [g.model, g.task, g.mode, g.workers, g.jobs, g.meanEpochMs, g.samplesPerSec, g.speedup, g.samples, g.batchSize])
  )

/** Code-point order: the same on every machine (localeCompare is not). */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// ---- weights ----

export type WeightsShape = { readonly model: ModelKind; readonly features: number; readonly outputs: number; readonly hidden: number }

/**
 * The shortest decimal that reads back as the same Float32 (at most 9 significant digits, usually 7-8),
 * so that a weights file written here starts a job from exactly the weights it shows.
 */
export const formatFloat32 = (v: number): string => {
  if (!Number.isFinite(v)) return String(v)
  for (let p = 1; p < 9; p++) {
    const shortened = Number(v.toPrecision(p))
    if (Math.fround(shortened) === v) return String(shortened + 0)
  }
  return String(Number(v.toPrecision(9)) + 0)
}

const indices = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/**
 * One row per unit, its bias then its input weights (w_i: the weight of input i). Linear models:
 * `output,bias,w0..` per output (class). The mlp: a block `layer,unit,bias,w0..` of the hidden units
 * (layer 1, weights per input feature), a blank line, then a block of the outputs (layer 2, weights per
 * hidden unit).
 */
export const weightsCsv = (shape: WeightsShape, weights: Float32Array): string => {
  const layout = layoutOf({ kind: shape.model, features: shape.features, outputs: shape.outputs, hidden: shape.hidden })
  if (weights.length !== layout.size) throw new RangeError(`model ${shape.model} has ${layout.size} parameters, got ${weights.length}`)
  const f = formatFloat32
  // Row `unit` of an input-major block at `w` (inputs x width), with its bias at `b`.
  const unitRow = (w: number, b: number, inputs: number, width: number, unit: number): string[] => [
    f(weights[b + unit] as number),
    ...Array.from({ length: inputs }, (_, i) => f(weights[w + i * width + unit] as number))
  ]
  if (shape.model !== "mlp") {
    const header = ["output", "bias", ...indices(shape.features, "w")].join(",")
    const rows = Array.from({ length: shape.outputs }, (_, o) => [String(o), ...unitRow(layout.w1, layout.b1, shape.features, shape.outputs, o)].join(","))
    return [header, ...rows].join("\n") + "\n"
  }
  const block = (layer: number, w: number, b: number, inputs: number, width: number): string[] => [
    ["layer", "unit", "bias", ...indices(inputs, "w")].join(","),
    ...Array.from({ length: width }, (_, u) => [String(layer), String(u), ...unitRow(w, b, inputs, width, u)].join(","))
  ]
  return [...block(1, layout.w1, layout.b1, shape.features, shape.hidden), "", ...block(2, layout.w2, layout.b2, shape.hidden, shape.outputs)].join("\n") + "\n"
}

/** One parsed line: its 1-based number and cells. */
type Line = { readonly n: number; readonly cells: ReadonlyArray<string> }

const fail = (line: number, message: string): never => {
  throw new Error(`weights file line ${line}: ${message}`)
}

const numberAt = (line: number, text: string): number => {
  const value = Number(text)
  if (text === "" || !Number.isFinite(value)) fail(line, `${JSON.stringify(text.slice(0, 40))} is not a finite number`)
  if (!Number.isFinite(Math.fround(value))) fail(line, `${text.slice(0, 40)} is out of the Float32 range`)
  return value
}

/**
 * Reads weights back into the flat layout (see training/shape.ts): a weights CSV written by `weightsCsv`
 * (told apart by its header), or plain numbers in flat order, one per line or comma-separated. Blank
 * lines and `#` comments are skipped. Throws an Error naming the line at fault, or the count mismatch.
 */
export const parseWeightsCsv = (text: string, expectedParameters: number): Float32Array => {
  const lines: Line[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim()
    if (trimmed !== "" && !trimmed.startsWith("#")) lines.push({ n: i + 1, cells: trimmed.split(",").map((c) => c.trim()) })
  })
  const first = lines[0]?.cells[0]
  const values = first === "output" ? linearValues(lines) : first === "layer" ? mlpValues(lines) : plainValues(lines, expectedParameters)
  const lastLine = lines.at(-1)?.n ?? 0
  if (values.length !== expectedParameters) {
    throw new Error(`weights file: ${values.length} values (to line ${lastLine}), but the model has ${expectedParameters} parameters`)
  }
  return values
}

const plainValues = (lines: ReadonlyArray<Line>, expected: number): Float32Array => {
  const out: number[] = []
  for (const line of lines) {
    for (const text of line.cells) {
      out.push(numberAt(line.n, text))
      if (out.length > expected) fail(line.n, `more values than the model's ${expected} parameters`)
    }
  }
  return Float32Array.from(out)
}

/** Header lines and unit rows; each row must have as many cells as its header. */
const rowsUnder = (lines: ReadonlyArray<Line>, headerWord: string): Array<{ line: Line; header: Line }> => {
  const rows: Array<{ line: Line; header: Line }> = []
  let header: Line | undefined
  for (const line of lines) {
    if (line.cells[0] === headerWord) {
      header = line
      continue
    }
    if (header === undefined) return fail(line.n, "a data row before the header")
    if (line.cells.length !== header.cells.length) fail(line.n, `${line.cells.length} cells, but the header (line ${header.n}) has ${header.cells.length}`)
    rows.push({ line, header })
  }
  return rows
}

const intAt = (line: Line, column: number, expected: number, what: string): void => {
  const text = line.cells[column] ?? ""
  if (text !== String(expected)) fail(line.n, `${what} is ${JSON.stringify(text)}, expected ${expected}`)
}

const linearValues = (lines: ReadonlyArray<Line>): Float32Array => {
  const rows = rowsUnder(lines, "output")
  const outputs = rows.length
  const features = (lines[0]?.cells.length ?? 2) - 2
  const out = new Float32Array(features * outputs + outputs)
  rows.forEach(({ line }, o) => {
    intAt(line, 0, o, "output")
    if (line.cells.length - 2 !== features) fail(line.n, `${line.cells.length - 2} weights, expected ${features}`)
    out[features * outputs + o] = numberAt(line.n, line.cells[1] ?? "")
    for (let i = 0; i < features; i++) out[i * outputs + o] = numberAt(line.n, line.cells[2 + i] ?? "")
  })
  return out
}

const mlpValues = (lines: ReadonlyArray<Line>): Float32Array => {
  const rows = rowsUnder(lines, "layer")
  const layer1 = rows.filter((r) => r.line.cells[0] === "1")
  const layer2 = rows.filter((r) => r.line.cells[0] === "2")
  for (const [index, r] of rows.entries()) {
    const expectedLayer = index < layer1.length ? "1" : "2"
    if (r.line.cells[0] !== expectedLayer) fail(r.line.n, `layer is ${JSON.stringify(r.line.cells[0])}, expected ${expectedLayer} (layer 1 rows, then layer 2 rows)`)
  }
  const features = (layer1[0]?.header.cells.length ?? 3) - 3
  const hidden = layer1.length
  const outputs = layer2.length
  const layout = layoutOf({ kind: "mlp", features, outputs, hidden })
  const out = new Float32Array(layout.size)
  const fill = (block: ReadonlyArray<{ line: Line }>, w: number, b: number, inputs: number, width: number): void =>
    block.forEach(({ line }, u) => {
      intAt(line, 1, u, "unit")
      if (line.cells.length - 3 !== inputs) fail(line.n, `${line.cells.length - 3} weights, expected ${inputs}`)
      out[b + u] = numberAt(line.n, line.cells[2] ?? "")
      for (let i = 0; i < inputs; i++) out[w + i * width + u] = numberAt(line.n, line.cells[3 + i] ?? "")
    })
  fill(layer1, layout.w1, layout.b1, features, hidden)
  fill(layer2, layout.w2, layout.b2, hidden, outputs)
  return out
}
