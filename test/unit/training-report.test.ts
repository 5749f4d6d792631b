import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { DtqEvent, EventOf } from "../../src/domain/events.ts"
import { resolveSpec, type ResolvedTrainSpec } from "../../src/domain/job-spec.ts"
import { writeTrainingFiles } from "../../src/reports/training-files.ts"
import {
  epochsCsv,
  formatFloat32,
  formatNumber,
  jobSummariesCsv,
  parseWeightsCsv,
  speedupCsv,
  trainingReport,
  weightsCsv,
  type TrainingReport,
  type WeightsShape
} from "../../src/reports/training-report.ts"
import { seededRandom } from "../../src/training/sampling.ts"
import { layoutOf } from "../../src/training/shape.ts"
import * as F from "./fixtures.ts"

// ---- a training job's events, as the coordinator and a worker would write them ----

const TENSOR = { digest: `sha256-${"b".repeat(64)}`, bytes: 60 }

let counter = 0
const decided = (ts: number, term: number) => ({ id: `tr-${++counter}`, v: 1 as const, ts, writer: { role: "coordinator" as const, id: F.COORDINATOR }, epoch: term })
const reported = (ts: number) => ({ id: `tr-${++counter}`, v: 1 as const, ts, writer: { role: "worker" as const, id: "w1" } })

const trainSpec = (o: Record<string, unknown> = {}): ResolvedTrainSpec =>
  resolveSpec({
    kind: "train",
    model: "softmax",
    task: "multiclass",
    target: { kind: "multiclass", classes: 3 },
    data: { name: "train-data", digest: `sha256-${"a".repeat(64)}`, bytes: 1000, rows: 100, features: 4, source: "data/train.csv" },
    samples: 100,
    features: 4,
    outputs: 3,
    hidden: 0,
    parameters: 15,
    normalize: "none",
    epochs: 2,
    batchSize: 100, // one step per epoch
    lr: 0.5,
    lrDecay: 1,
    seed: 42,
    mode: "sync",
    backup: 0,
    staleness: 4,
    localEpochs: 1,
    init: "zeros",
    patience: 0,
    minDelta: 0,
    tasks: 1,
    ...o
  }) as ResolvedTrainSpec

type Figures = { ms: number; loss: number; trainAccuracy: number | null; testLoss?: number; testAccuracy?: number | null }
type Final = { loss: number; trainAccuracy: number | null; testLoss?: number; testAccuracy?: number | null }

/** A training job's events in three parts, so that several jobs can run side by side in one log. */
type Run = { start: () => DtqEvent[]; epoch: (epoch: number, term: number) => DtqEvent[]; end: (term: number) => DtqEvent[] }

/**
 * Submitted at t0, scheduled at t0 + 1, epoch e recorded at t0 + 100 e; with `final`, training finishes
 * and the job completes at t0 + 100 (epochs + 1). `stopped`: EarlyStopped after the last epoch.
 */
const trainingRun = (jobId: string, spec: ResolvedTrainSpec, t0: number, epochs: ReadonlyArray<Figures>, final?: Final, stopped = false): Run => {
  const shares = Array.from({ length: spec.tasks }, (_, i) => i)
  const end = t0 + 100 * (epochs.length + 1)
  return {
    start: () => [
      F.jobSubmitted(jobId, spec, { ts: t0 }),
      F.tasksScheduled(jobId, spec.tasks, { ts: t0 + 1 }),
      F.taskLeased("w1", shares.map((index) => ({ jobId, index, attempt: 1 })), { ts: t0 + 2 }),
      { type: "ModelUpdated", ...decided(t0 + 3, 1), jobId, version: 0, tensor: TENSOR, applied: [], lr: spec.lr }
    ],
    epoch: (epoch, term) => {
      const f = epochs[epoch - 1]
      if (f === undefined) return []
      const ts = t0 + 100 * epoch
      const applied = shares.map((index) => ({ index, attempt: 1, version: epoch - 1, epoch, batch: 0 }))
      const gradients = applied.map((g): EventOf<"GradientReported"> => ({
        type: "GradientReported", ...reported(ts), workerId: "w1", jobId, ...g,
        rows: spec.samples / spec.tasks, loss: f.loss, correct: 0, ms: 1, tensor: TENSOR
      }))
      return [
        ...gradients,
        { type: "ModelUpdated", ...decided(ts, term), jobId, version: epoch, tensor: TENSOR, applied, lr: spec.lr },
        {
          type: "EpochCompleted", ...decided(ts, term), jobId, trainingEpoch: epoch, version: epoch,
          loss: f.loss, trainAccuracy: f.trainAccuracy,
          ...(f.testLoss === undefined ? {} : { testLoss: f.testLoss }),
          ...(f.testAccuracy === undefined ? {} : { testAccuracy: f.testAccuracy }),
          ms: f.ms, samples: spec.samples, samplesPerSec: spec.samples / (f.ms / 1000), workers: spec.tasks, mode: spec.mode
        }
      ]
    },
    end: (term) => {
      if (final === undefined) return []
      return [
        ...(stopped
          ? [{ type: "EarlyStopped" as const, ...decided(end - 50, term), jobId, trainingEpoch: epochs.length, bestEpoch: 1, bestVersion: 1, reason: "no improvement" }]
          : []),
        {
          type: "TrainingFinished", ...decided(end, term), jobId, version: epochs.length, epochs: epochs.length,
          model: { bucket: "dtq-models", name: `${jobId}-model`, digest: TENSOR.digest, bytes: TENSOR.bytes },
          ...final, confusion: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], stoppedEarly: stopped
        },
        F.taskCompleted("w1", shares.map((index) => ({ jobId, index, attempt: 1, result: "0" })), { ts: end }),
        F.jobCompleted(jobId, "trained", { ts: end, epoch: term })
      ]
    }
  }
}

const RUNS: Run[] = [
  trainingRun("t1", trainSpec({ name: "baseline, one" }), 1000, [
    { ms: 100, loss: 0.9, trainAccuracy: 0.6, testLoss: 0.95, testAccuracy: 0.58 },
    { ms: 120, loss: 0.5, trainAccuracy: 0.8, testLoss: 0.55, testAccuracy: 0.79 }
  ], { loss: 0.5, trainAccuracy: 0.8, testLoss: 0.55, testAccuracy: 0.8 }),
  trainingRun("t2", trainSpec({ tasks: 2 }), 2000, [
    { ms: 60, loss: 0.9, trainAccuracy: 0.6 },
    { ms: 50, loss: 0.6, trainAccuracy: 0.7 }
  ], { loss: 0.6, trainAccuracy: 0.7 }),
  trainingRun("t3", trainSpec({ tasks: 2 }), 3000, [
    { ms: 50, loss: 0.8, trainAccuracy: 0.65 },
    { ms: 60, loss: 0.4, trainAccuracy: 0.85 }
  ], { loss: 0.4, trainAccuracy: 0.85 }),
  trainingRun("t4", trainSpec({ tasks: 2, mode: "avg", epochs: 3 }), 4000, [
    { ms: 40, loss: 0.7, trainAccuracy: null },
    { ms: 40, loss: 0.75, trainAccuracy: null }
  ], { loss: 0.7, trainAccuracy: null }, true),
  trainingRun("t5", trainSpec({ model: "mlp", hidden: 2, parameters: 19, epochs: 4 }), 5000, [
    { ms: 33.33333333, loss: 1.23456789, trainAccuracy: 0.5, testLoss: 1.3 }
  ])
]

// The jobs train side by side; a new coordinator term starts before epoch 2. (Each epoch also runs in
// the term of its number: the fold fences any event with an `epoch` field, and GradientReported's
// `epoch` is the training epoch, so with term 1 throughout the fold would set epoch 2's gradients aside.)
const ALL_EVENTS: DtqEvent[] = [
  F.coordinatorElected(1, { ts: 1 }),
  F.workerJoined("w1", 64, { ts: 2, kinds: ["train", "sum"] }),
  ...(RUNS[0] as Run).start(),
  F.jobSubmitted("s1", F.sumSpec(1, 10, 2), { ts: 1500 }),
  ...RUNS.slice(1).flatMap((run) => run.start()),
  ...RUNS.flatMap((run) => run.epoch(1, 1)),
  F.coordinatorElected(2, { ts: 6000 }),
  ...RUNS.flatMap((run) => run.epoch(2, 2)),
  ...RUNS.flatMap((run) => run.end(2))
]

const folded = () => F.foldAll(ALL_EVENTS)

describe("trainingReport", () => {
  it("folds real events without setting any aside", () => {
    const state = folded()
    expect(state.recentRejected).toEqual([])
    expect([...state.jobs.values()].map((j) => [j.jobId, j.phase])).toEqual([
      ["t1", "completed"], ["s1", "queued"], ["t2", "completed"], ["t3", "completed"], ["t4", "completed"], ["t5", "running"]
    ])
  })

  it("has one entry per training job, in submission order", () => {
    const report = trainingReport(folded())
    expect(report.jobs.map((j) => j.jobId)).toEqual(["t1", "t2", "t3", "t4", "t5"])
    expect(report.jobs[0]).toEqual({
      jobId: "t1",
      name: "baseline, one",
      model: "softmax",
      task: "multiclass",
      mode: "sync",
      workers: 1,
      samples: 100,
      batchSize: 100,
      epochsPlanned: 2,
      lr: 0.5,
      seed: 42,
      state: "completed",
      submittedAt: 1000,
      startedAt: 1001,
      endedAt: 1300,
      wallMs: 299,
      epochs: [
        { ts: 1100, epoch: 1, at: 1100, version: 1, loss: 0.9, trainAccuracy: 0.6, testLoss: 0.95, testAccuracy: 0.58, ms: 100, samples: 100, samplesPerSec: 1000, workers: 1, mode: "sync" },
        { ts: 1200, epoch: 2, at: 1200, version: 2, loss: 0.5, trainAccuracy: 0.8, testLoss: 0.55, testAccuracy: 0.79, ms: 120, samples: 100, samplesPerSec: 100 / 0.12, workers: 1, mode: "sync" }
      ],
      finished: {
        ts: 1300,
        version: 2,
        epochs: 2,
        model: { bucket: "dtq-models", name: "t1-model", digest: TENSOR.digest, bytes: 60 },
        loss: 0.5,
        trainAccuracy: 0.8,
        testLoss: 0.55,
        testAccuracy: 0.8,
        confusion: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        stoppedEarly: false
      },
      stoppedEarly: false
    })
    expect(report.jobs[3]?.stoppedEarly).toBe(true)
  })

  it("leaves out what is not known yet (no undefined values)", () => {
    const running = trainingReport(folded()).jobs[4]
    expect(running).toMatchObject({ jobId: "t5", model: "mlp", state: "running", startedAt: 5001, epochsPlanned: 4 })
    for (const key of ["name", "endedAt", "wallMs", "finished"]) expect(Object.hasOwn(running ?? {}, key)).toBe(false)
  })

  it("is plain JSON: a round trip (a control reply) and a second replay give the same report and CSV", () => {
    const report = trainingReport(folded())
    const travelled = JSON.parse(JSON.stringify(report)) as TrainingReport
    expect(travelled).toStrictEqual(report)
    expect(trainingReport(folded())).toStrictEqual(report)
    expect(jobSummariesCsv(travelled)).toBe(jobSummariesCsv(report))
    expect(speedupCsv(travelled)).toBe(speedupCsv(report))
  })

  it("does not alias the fold's state", () => {
    const state = folded()
    const report = trainingReport(state)
    state.jobs.get("t1")?.training?.epochs.splice(0)
    expect(report.jobs[0]?.epochs).toHaveLength(2)
  })
})

describe("CSV texts", () => {
  const report = trainingReport(folded())
  const job = (id: string) => report.jobs.find((j) => j.jobId === id) as TrainingReport["jobs"][number]

  it("epochsCsv: one row per epoch, empty cells for missing figures", () => {
    expect(epochsCsv(job("t1"))).toBe(
      "epoch,version,loss,train_accuracy,test_loss,test_accuracy,ms,samples,samples_per_sec,workers,mode\n" +
        "1,1,0.9,0.6,0.95,0.58,100,100,1000,1,sync\n" +
        "2,2,0.5,0.8,0.55,0.79,120,100,833.333,1,sync\n"
    )
    expect(epochsCsv(job("t4"))).toBe(
      "epoch,version,loss,train_accuracy,test_loss,test_accuracy,ms,samples,samples_per_sec,workers,mode\n" +
        "1,1,0.7,,,,40,100,2500,2,avg\n" +
        "2,2,0.75,,,,40,100,2500,2,avg\n"
    )
    expect(epochsCsv(job("t5"))).toBe(
      "epoch,version,loss,train_accuracy,test_loss,test_accuracy,ms,samples,samples_per_sec,workers,mode\n" +
        "1,1,1.23457,0.5,1.3,,33.3333,100,3000,1,sync\n"
    )
  })

  it("jobSummariesCsv: final figures from TrainingFinished, else the last epoch; quoted names", () => {
    expect(jobSummariesCsv(report)).toBe(
      "job,name,model,task,mode,workers,samples,batch_size,epochs,lr,seed,state,wall_ms,final_loss,train_accuracy,test_accuracy,stopped_early\n" +
        't1,"baseline, one",softmax,multiclass,sync,1,100,100,2,0.5,42,completed,299,0.5,0.8,0.8,false\n' +
        "t2,,softmax,multiclass,sync,2,100,100,2,0.5,42,completed,299,0.6,0.7,,false\n" +
        "t3,,softmax,multiclass,sync,2,100,100,2,0.5,42,completed,299,0.4,0.85,,false\n" +
        "t4,,softmax,multiclass,avg,2,100,100,3,0.5,42,completed,299,0.7,,,true\n" +
        "t5,,mlp,multiclass,sync,1,100,100,4,0.5,42,running,,1.23457,0.5,,false\n"
    )
  })

  it("speedupCsv: completed jobs pooled per mode and workers, against the 1-worker row", () => {
    // sync: 1 worker 220 ms over 2 epochs (110 each); 2 workers, two jobs, 220 ms over 4 epochs (55 each).
    expect(speedupCsv(report)).toBe(
      "model,task,mode,workers,jobs,mean_epoch_ms,samples_per_sec,speedup,samples,batch_size\n" +
        "softmax,multiclass,avg,2,1,40,2500,,100,100\n" +
        "softmax,multiclass,sync,1,1,110,909.091,1,100,100\n" +
        "softmax,multiclass,sync,2,2,55,1818.18,2,100,100\n"
    )
  })

  it("speedupCsv: a different data size or batch size is a different group", () => {
    const base = job("t1")
    const other = { ...base, jobId: "t9", samples: 50, workers: 2, epochs: base.epochs.map((e) => ({ ...e, ms: 25, samples: 50 })) }
    expect(speedupCsv({ jobs: [base, other] })).toBe(
      "model,task,mode,workers,jobs,mean_epoch_ms,samples_per_sec,speedup,samples,batch_size\n" +
        "softmax,multiclass,sync,1,1,110,909.091,1,100,100\n" +
        "softmax,multiclass,sync,2,1,25,2000,,50,100\n"
    )
  })

  it("formatNumber: up to 6 significant digits, integers whole, no -0", () => {
    expect([0.1 + 0.2, 1 / 3, 2 / 3, 123.4567891, 1234567.89, 42, -0, 1e-7 / 3, -2.5].map((x) => formatNumber(x))).toEqual([
      "0.3", "0.333333", "0.666667", "123.457", "1234568", "42", "0", "3.33333e-8", "-2.5"
    ])
  })
})

describe("weightsCsv and parseWeightsCsv", () => {
  const ascending = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1)
  const shapes: ReadonlyArray<WeightsShape> = [
    { model: "linreg", features: 3, outputs: 1, hidden: 0 },
    { model: "logreg", features: 2, outputs: 1, hidden: 0 },
    { model: "softmax", features: 2, outputs: 3, hidden: 0 },
    { model: "mlp", features: 2, outputs: 3, hidden: 2 }
  ]
  const sizeOf = (s: WeightsShape) => layoutOf({ kind: s.model, features: s.features, outputs: s.outputs, hidden: s.hidden }).size

  it("linreg: one row, bias then the weight of each input", () => {
    expect(weightsCsv(shapes[0] as WeightsShape, Float32Array.of(0.5, -1.25, 2, 0.1))).toBe("output,bias,w0,w1,w2\n0,0.1,0.5,-1.25,2\n")
  })

  it("logreg: one row", () => {
    expect(weightsCsv(shapes[1] as WeightsShape, ascending(3))).toBe("output,bias,w0,w1\n0,3,1,2\n")
  })

  it("softmax: one row per class, read out of the input-major layout", () => {
    // W = [W00 W01 W02 | W10 W11 W12], b = [7 8 9]
    expect(weightsCsv(shapes[2] as WeightsShape, ascending(9))).toBe("output,bias,w0,w1\n0,7,1,4\n1,8,2,5\n2,9,3,6\n")
  })

  it("mlp: a block of hidden units, then a block of outputs", () => {
    // W1 = [1 2 | 3 4] (inputs x hidden), b1 = [5 6], W2 = [7 8 9 | 10 11 12] (hidden x outputs), b2 = [13 14 15]
    expect(weightsCsv(shapes[3] as WeightsShape, ascending(15))).toBe(
      "layer,unit,bias,w0,w1\n1,0,5,1,3\n1,1,6,2,4\n\nlayer,unit,bias,w0,w1\n2,0,13,7,10\n2,1,14,8,11\n2,2,15,9,12\n"
    )
  })

  it("refuses weights of the wrong size", () => {
    expect(() => weightsCsv(shapes[2] as WeightsShape, ascending(8))).toThrow("model softmax has 9 parameters, got 8")
  })

  for (const shape of shapes) {
    it(`${shape.model}: reads back exactly what it wrote (Float32 for Float32)`, () => {
      const random = seededRandom(7)
      const weights = Float32Array.from({ length: sizeOf(shape) }, () => (random() - 0.5) * 10 ** Math.floor(random() * 8 - 4))
      const text = weightsCsv(shape, weights)
      expect(parseWeightsCsv(text, weights.length)).toEqual(weights)
      expect(parseWeightsCsv(text.replaceAll("\n", "\r\n"), weights.length)).toEqual(weights)
    })
  }

  it("formatFloat32: the shortest decimal that is the same Float32", () => {
    expect([0.1, 1 / 3, -2.5, 0, 1e-8, 3.4e38].map((x) => formatFloat32(Math.fround(x)))).toEqual(["0.1", "0.33333334", "-2.5", "0", "1e-8", "3.4e+38"])
  })

  it("reads plain numbers: one per line, or comma-separated, skipping blank lines and comments", () => {
    expect(parseWeightsCsv("# initial weights\n1\n\n-2.5\n3e-1\n", 3)).toEqual(Float32Array.of(1, -2.5, 0.3))
    expect(parseWeightsCsv("1, 2,3\n4\n", 4)).toEqual(Float32Array.of(1, 2, 3, 4))
  })

  it("names the line at fault", () => {
    expect(() => parseWeightsCsv("1\n2\nx\n", 3)).toThrow('weights file line 3: "x" is not a finite number')
    expect(() => parseWeightsCsv("1,,2\n", 3)).toThrow('weights file line 1: "" is not a finite number')
    expect(() => parseWeightsCsv("1\nInfinity\n", 2)).toThrow("weights file line 2")
    expect(() => parseWeightsCsv("1\n1e39\n", 2)).toThrow("weights file line 2: 1e39 is out of the Float32 range")
    expect(() => parseWeightsCsv("1\n2\n3\n4\n", 3)).toThrow("weights file line 4: more values than the model's 3 parameters")
    expect(() => parseWeightsCsv("output,bias,w0,w1\n0,7,1,4\n1,8,2\n", 6)).toThrow("weights file line 3: 3 cells, but the header (line 1) has 4")
    expect(() => parseWeightsCsv("output,bias,w0,w1\n0,7,1,4\n2,8,2,5\n", 6)).toThrow('weights file line 3: output is "2", expected 1')
    expect(() => parseWeightsCsv("output,bias,w0\n0,7,oops\n", 2)).toThrow('weights file line 2: "oops" is not a finite number')
    expect(() => parseWeightsCsv("layer,unit,bias,w0\n1,0,5,1\n2,0,6,2\n1,1,7,3\n", 7)).toThrow('weights file line 3: layer is "2", expected 1')
    expect(() => parseWeightsCsv("layer,unit,bias,w0,w1\n1,0,5,1,3\n1,1,6,2,4\n\nlayer,unit,bias,w0\n2,0,13,7\n", 11)).toThrow("weights file line 6: 1 weights, expected 2")
  })

  it("says how many values it found when the count is not the model's", () => {
    expect(() => parseWeightsCsv("1\n2\n", 3)).toThrow("weights file: 2 values (to line 2), but the model has 3 parameters")
    const softmax = weightsCsv(shapes[2] as WeightsShape, ascending(9))
    expect(() => parseWeightsCsv(softmax, 15)).toThrow("weights file: 9 values (to line 4), but the model has 15 parameters")
  })
})

describe("writeTrainingFiles", () => {
  it("writes the logs of every job and the weights (and picture) of each model given", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dtq-report-"))
    try {
      const report = trainingReport(folded())
      const small: WeightsShape = { model: "softmax", features: 2, outputs: 3, hidden: 0 }
      const mnist: WeightsShape = { model: "logreg", features: 784, outputs: 1, hidden: 0 }
      const models = new Map([
        ["t1", { spec: small, weights: Float32Array.from({ length: 9 }, (_, i) => i + 1) }],
        ["t2", { spec: mnist, weights: new Float32Array(785) }]
      ])
      const paths = await writeTrainingFiles(report, dir, models)
      const names = ["t1_epochs.csv", "t2_epochs.csv", "t3_epochs.csv", "t4_epochs.csv", "t5_epochs.csv", "job_summaries.csv", "speedup.csv"]
      expect(paths).toEqual(
        [...names.map((n) => join(dir, "logs", n)), join(dir, "weights_t1.csv"), join(dir, "weights_t2.csv"), join(dir, "weights_t2.png")].sort()
      )
      expect(await readFile(join(dir, "logs", "job_summaries.csv"), "utf8")).toBe(jobSummariesCsv(report))
      expect(await readFile(join(dir, "logs", "speedup.csv"), "utf8")).toBe(speedupCsv(report))
      expect(await readFile(join(dir, "logs", "t4_epochs.csv"), "utf8")).toBe(epochsCsv(report.jobs[3] as TrainingReport["jobs"][number]))
      expect(await readFile(join(dir, "weights_t1.csv"), "utf8")).toBe("output,bias,w0,w1\n0,7,1,4\n1,8,2,5\n2,9,3,6\n")
      const png = await readFile(join(dir, "weights_t2.png"))
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
      expect(png.readUInt32BE(16)).toBe(112) // one 28x28 tile scaled 4x
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("refuses a job id that is not a safe file name", async () => {
    const report: TrainingReport = { jobs: [{ ...(trainingReport(folded()).jobs[0] as TrainingReport["jobs"][number]), jobId: "../evil" }] }
    await expect(writeTrainingFiles(report, join(tmpdir(), "dtq-never-written"), new Map())).rejects.toThrow('job id "../evil" cannot name a file')
  })
})
