// Inference throughput in rows/s: the shipped MNIST test set (2,000 rows) repeated REPEAT times (default
// 10: 20,000 rows), softmax and mlp models.
//   node bench/inference.ts local     in one process: predictLocally on the prepared rows
//   node bench/inference.ts cluster   a local cluster (nats-server, coordinator, workers) with 1 and 2
//                                     workers, against the same model in this process
//   node bench/inference.ts fair      fair sharing: two jobs whose batches cost about 2:1 (mlps of 1000 and 500
//                                     hidden units on a dense 200-feature data set) run together on 3 workers
//                                     (2 slots, 6 prefetched): their row rates, with shares 1:1 and 2:1
// Each prints a markdown table (docs/benchmarks.md). Env: REPEAT, RUNS (in-process repetitions, default
// 5), BATCH (comma-separated batch sizes for the cluster, default 100,1000), MODELS (softmax,mlp), WARMUP
// (default 1: one untimed inference job per model first), VERBOSE (per-job timings on stderr).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { LocalCluster } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"
import { decodeEvent } from "../src/domain/event-codec.ts"
import type { DtqEvent } from "../src/domain/events.ts"
import { parseCsvFiles } from "../src/data/csv.ts"
import type { Dataset } from "../src/data/dataset.ts"
import { readDataFiles } from "../src/data/files.ts"
import type { ResolvedTrainSpec } from "../src/domain/job-spec.ts"
import { MODEL_DEFAULTS } from "../src/domain/train-spec.ts"
import { prepareInferenceData, type InferenceScaling } from "../src/inference/infer-data.ts"
import { predictLocally } from "../src/inference/predict.ts"
import { ModelStore } from "../src/nats/model-store.ts"
import { withCluster } from "./with-cluster.ts"
import { writeDenseDataset } from "../test/helpers/dense-dataset.ts"
import { shapeOf, targetOf } from "../src/training/job-data.ts"
import { trainLocally } from "../src/training/local-trainer.ts"
import { shapeFor, type ModelShape, type Target } from "../src/training/models.ts"

const sections = process.argv.slice(2)
const REPEAT = Number(process.env.REPEAT ?? 10)
const RUNS = Number(process.env.RUNS ?? 5)
const BATCHES = (process.env.BATCH ?? "100,1000").split(",").map(Number)
const MODELS = (process.env.MODELS ?? "softmax,mlp").split(",") as Array<"softmax" | "mlp">
/** Whether the cluster runs one untimed inference job per model first (WARMUP=0: measure cold workers). */
const WARMUP = process.env.WARMUP !== "0"
const TRAIN_FILE = resolve(import.meta.dirname, "../data/mnist/train.csv.gz")
const TEST_FILE = resolve(import.meta.dirname, "../data/mnist/test.csv.gz")
/** The test set REPEAT times, as a comma list: the producer parses and uploads it as one data set. */
const DATA_REF = Array.from({ length: REPEAT }, () => TEST_FILE).join(",")
/** Epochs of the benchmark's models: throughput, not accuracy, is measured (an mlp's speed depends a little on its weights). */
const EPOCHS = 2

const row = (cells: ReadonlyArray<string | number>) => console.log(`| ${cells.join(" | ")} |`)
const rate = (n: number) => Math.round(n).toLocaleString("en-US")
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

const load = async (ref: string): Promise<Dataset> => parseCsvFiles(await readDataFiles(ref), { label: "first" })

type InProcess = { readonly rowsPerSec: number; readonly prepareMs: number; readonly accuracy: number }

/** Rows scaled as training scaled them (timed), then the median of RUNS passes of predictLocally. */
const inProcess = (scaling: InferenceScaling, shape: ModelShape, target: Target, params: Float32Array, train: Dataset, rows: Dataset): InProcess => {
  const t0 = performance.now()
  const prepared = prepareInferenceData(scaling, train, rows)
  const prepareMs = performance.now() - t0
  // A warm-up pass: the JIT, and the rows' sparse form, built once per data set.
  const first = predictLocally(shape, target, params, prepared, true)
  const times: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now()
    predictLocally(shape, target, params, prepared, true)
    times.push(performance.now() - started)
  }
  return { rowsPerSec: prepared.rows / (median(times) / 1000), prepareMs, accuracy: (first.correct ?? 0) / prepared.rows }
}

if (sections.includes("local")) {
  const [train, rows] = await Promise.all([load(TRAIN_FILE), load(DATA_REF)])
  console.log(`\n## Inference in one process: ${rate(rows.rows)} rows (the MNIST test set x ${REPEAT}), median of ${RUNS} passes\n`)
  row(["model", "prepare ms", "rows/s", "accuracy"])
  row(["---", "---", "---", "---"])
  for (const model of MODELS) {
    const defaults = MODEL_DEFAULTS[model]
    const target: Target = { kind: "multiclass", classes: 10 }
    const shape = shapeFor(model, train.features, target, model === "mlp" ? defaults.hidden : 0)
    // normalize=max on every training row: the training defaults.
    const scaling: InferenceScaling = { trained: { samples: train.rows, normalize: "max" }, data: { source: "test x REPEAT" } }
    const scaledTrain = prepareInferenceData(scaling, train, train)
    const { params } = trainLocally({ shape, target, train: scaledTrain, epochs: EPOCHS, batchSize: defaults.batchSize, lr: defaults.lr, lrDecay: defaults.lrDecay, seed: 42, init: model === "mlp" ? "random" : "zeros" })
    const r = inProcess(scaling, shape, target, params, train, rows)
    row([model, r.prepareMs.toFixed(0), rate(r.rowsPerSec), r.accuracy.toFixed(4)])
  }
}


/** A model trained on the cluster, and its weights and spec for the in-process reference. */
const trainOnCluster = async (client: Client, model: "softmax" | "mlp"): Promise<{ jobId: string; spec: ResolvedTrainSpec; params: Float32Array; testAccuracy: number | null }> => {
  const { jobId } = await client.train({ model, epochs: EPOCHS })
  const outcome = await client.wait(jobId)
  if (outcome.state !== "completed") throw new Error(`training ${jobId} ${outcome.state}: ${outcome.reason}`)
  const view = await client.job(jobId)
  const finished = view?.training?.finished
  if (view === undefined || finished === undefined) throw new Error(`training ${jobId} has no model`)
  const params = await (await ModelStore.open(client.nc)).get(finished.model.name, finished.model.digest)
  return { jobId, spec: view.spec as ResolvedTrainSpec, params, testAccuracy: finished.testAccuracy ?? null }
}

if (sections.includes("cluster")) {
  const [train, rows] = await Promise.all([load(TRAIN_FILE), load(DATA_REF)])
  console.log(`\n## Inference on a local cluster: ${rate(rows.rows)} rows (the MNIST test set x ${REPEAT}), 4 slots per worker\n`)
  console.log("Job time: from the job's start (its first batches scheduled) to its end; end to end: from the call (the producer parses and uploads the rows) to the outcome.\n")
  row(["model", "workers", "batch", "tasks", "job rows/s", "ratio", "end-to-end rows/s", "ratio", "in one process rows/s"])
  row(["---", "---", "---", "---", "---", "---", "---", "---", "---"])
  for (const workers of [1, 2]) {
    await withCluster("inference", workers, async (client) => {
      for (const model of MODELS) {
        const trained = await trainOnCluster(client, model)
        const scaling: InferenceScaling = { trained: trained.spec, data: { source: DATA_REF } }
        const local = inProcess(scaling, shapeOf(trained.spec), targetOf(trained.spec), trained.params, train, rows)
        // The same model over the test set repeated: the test accuracy training reported.
        if (trained.testAccuracy !== null && Math.abs(local.accuracy - trained.testAccuracy) > 1e-9) {
          console.error(`note: ${model} in-process accuracy ${local.accuracy} differs from training's test accuracy ${trained.testAccuracy}`)
        }
        // An untimed first job: each worker loads the rows and the weights once (cached by digest for the
        // jobs after it) and warms its JIT; its time is printed on stderr.
        if (WARMUP) {
          const started = performance.now()
          const { jobId } = await client.infer({ model: trained.jobId, data: DATA_REF, batchSize: Math.min(...BATCHES) })
          const outcome = await client.wait(jobId)
          const view = await client.job(jobId)
          const jobMs = (view?.endedAt ?? 0) - (view?.startedAt ?? 0)
          console.error(`warm-up ${model}, ${workers} worker(s): ${outcome.state}, job ${jobMs} ms, end to end ${(performance.now() - started).toFixed(0)} ms`)
        }
        for (const batchSize of BATCHES) {
          const started = performance.now()
          const { jobId } = await client.infer({ model: trained.jobId, data: DATA_REF, batchSize })
          const submittedMs = performance.now() - started
          const outcome = await client.wait(jobId)
          const wallMs = performance.now() - started
          if (outcome.state !== "completed") throw new Error(`inference ${jobId} ${outcome.state}: ${outcome.reason}`)
          const view = await client.job(jobId)
          const inference = view?.inference
          if (view === undefined || inference === undefined) throw new Error(`inference ${jobId} has no view`)
          if (inference.rowsDone !== rows.rows) throw new Error(`inference ${jobId} did ${inference.rowsDone} of ${rows.rows} rows`)
          if (inference.stored === undefined) throw new Error(`inference ${jobId} stored no predictions`)
          if (inference.accuracy !== undefined && Math.abs(inference.accuracy - local.accuracy) > 1e-9) {
            console.error(`note: ${model} cluster accuracy ${inference.accuracy} differs from in-process ${local.accuracy}`)
          }
          const { startedAt, endedAt } = view
          const jobMs = startedAt !== undefined && endedAt !== undefined ? endedAt - startedAt : (outcome.durationMs ?? wallMs)
          const jobRate = rows.rows / (jobMs / 1000)
          const endToEnd = rows.rows / (wallMs / 1000)
          if (process.env.VERBOSE !== undefined) {
            const queuedMs = startedAt === undefined ? 0 : startedAt - view.submittedAt
            console.error(`${model} w=${workers} b=${batchSize}: wall ${wallMs.toFixed(0)} ms (infer call ${submittedMs.toFixed(0)} ms), submitted→started ${queuedMs} ms, job ${jobMs} ms, stats.rate ${view.stats?.rate}, batch p50 ${view.stats?.latencyMs?.p50} ms`)
          }
          row([model, workers, batchSize, outcome.tasks, rate(jobRate), (jobRate / local.rowsPerSec).toFixed(3), rate(endToEnd), (endToEnd / local.rowsPerSec).toFixed(3), rate(local.rowsPerSec)])
        }
      }
    })
  }
}

if (sections.includes("fair")) {
  // A dense data set whose rows cost real work: 200 features, labels 0..9 (the integration test's).
  const FEATURES = 200
  const ROWS = Number(process.env.FAIR_ROWS ?? 80_000)
  const dir = mkdtempSync(join(tmpdir(), "dtq-bench-fair-"))
  const data = writeDenseDataset(dir, ROWS, FEATURES)
  const storeDir = resolve(".dtq/bench-fair")
  rmSync(storeDir, { recursive: true, force: true })
  const cluster = await LocalCluster.start({ workers: 3, slots: 2, storeDir, workerArgs: ["--prefetch", "6"], coordinatorArgs: ["--worker-timeout-ms", "20000"] })
  const client = await Client.connect(cluster.url)
  const log = async (): Promise<DtqEvent[]> => {
    const events: DtqEvent[] = []
    await client.log.readRange(1, undefined, (m) => {
      const d = decodeEvent(m.data)
      if (d.ok) events.push(d.event)
    })
    return events
  }
  try {
    const train = async (hidden: number) => {
      const { jobId } = await client.train({ model: "mlp", hidden, data, samples: 300, epochs: 1, batchSize: 100, workers: 1, seed: 3 })
      const outcome = await client.wait(jobId)
      if (outcome.state !== "completed") throw new Error(`training ${jobId} ${outcome.state}: ${outcome.reason}`)
      return jobId
    }
    const heavy = await train(1000)
    const light = await train(500)
    console.log(`\n## Fair sharing: two inference jobs, batches of 200 rows costing about 2:1, 3 workers (2 slots, 6 prefetched)\n`)
    console.log("Rows per second of each job over a window from 5 s after both started to 4 s later (or the first job's end).\n")
    row(["shares", "heavy rows/s", "light rows/s", "ratio heavy/light", "target", "off target", "splits (quota heavy:light)"])
    row(["---", "---", "---", "---", "---", "---", "---"])
    for (const shares of [[1, 1], [2, 1]] as const) {
      const a = await client.infer({ model: heavy, data, batchSize: 200, share: shares[0] })
      const b = await client.infer({ model: light, data, batchSize: 200, share: shares[1] })
      for (;;) {
        if (((await client.job(b.jobId))?.done ?? 0) > 0) break
        await new Promise((r) => setTimeout(r, 50))
      }
      const settledAt = Date.now() + 5000
      await new Promise((r) => setTimeout(r, 9500))
      const events = await log()
      const ends = events.filter((e) => e.type === "JobCompleted" && (e.jobId === a.jobId || e.jobId === b.jobId)).map((e) => e.ts)
      const until = Math.min(settledAt + 4000, ...ends)
      const rows = new Map<string, number>()
      for (const e of events) {
        if (e.type !== "TaskCompleted" || e.ts < settledAt || e.ts >= until) continue
        for (const r of e.results) rows.set(r.jobId, (rows.get(r.jobId) ?? 0) + ((r.result as { predictions?: unknown[] } | null)?.predictions?.length ?? 0))
      }
      for (const jobId of [a.jobId, b.jobId]) await client.cancel(jobId).catch(() => undefined)
      await client.wait(a.jobId)
      await client.wait(b.jobId)
      const seconds = (until - settledAt) / 1000
      const h = (rows.get(a.jobId) ?? 0) / seconds
      const l = (rows.get(b.jobId) ?? 0) / seconds
      const target = shares[0] / shares[1]
      const splits = events
        .filter((e) => e.type === "SharesAllocated" && e.jobs.length === 2 && e.jobs.some((j) => j.jobId === a.jobId))
        .map((e) => (e.type === "SharesAllocated" ? e.jobs.map((j) => j.quota).join(":") : ""))
      row([shares.join(":"), rate(h), rate(l), (h / l).toFixed(2), target.toFixed(2), `${((Math.abs(h / l - target) / target) * 100).toFixed(0)} %`, splits.join(" → ")])
    }
  } finally {
    await client.close()
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (sections.length === 0) console.log("give one or more sections: local cluster fair")
