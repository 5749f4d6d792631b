// prepareInference against a real nats-server (the Object Store holds the data), and the worker's
// inference handler running the resolved spec's batches (read back from a real event log).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BadSpec } from "../../src/domain/errors.ts"
import type { DtqEvent } from "../../src/domain/events.ts"
import { batchRows, type BatchResult } from "../../src/domain/infer-spec.ts"
import { resolveSpec, type ResolvedInferSpec, type ResolvedSpec, type ResolvedTrainSpec } from "../../src/domain/job-spec.ts"
import { newEventId } from "../../src/domain/ids.ts"
import { prepareInferenceData } from "../../src/inference/infer-data.ts"
import { predictLocally } from "../../src/inference/predict.ts"
import { connectCluster } from "../../src/nats/connection.ts"
import { DatasetStore } from "../../src/nats/dataset-store.ts"
import { EventLog } from "../../src/nats/event-log.ts"
import { startLocalServer, type LocalServer } from "../../src/nats/local-server.ts"
import { ModelStore, type StoredModel } from "../../src/nats/model-store.ts"
import { TensorStore } from "../../src/nats/tensor-store.ts"
import { prepareInference, type ModelJob } from "../../src/producer/infer-jobs.ts"
import { prepareTraining } from "../../src/producer/train-jobs.ts"
import { prepareTrainingData } from "../../src/training/job-data.ts"
import { trainLocally } from "../../src/training/local-trainer.ts"
import { seededRandom } from "../../src/training/sampling.ts"
import { inferenceHandler } from "../../src/worker/infer-handler.ts"
import { TaskError, type TaskContext } from "../../src/worker/task-handler.ts"

/** Three pixel-like features (0..255), high on the row's class: easy to learn, so predictions mean something. */
const csvRows = (rows: number, seed: number, label: "first" | "none" | "bad" = "first"): string => {
  const random = seededRandom(seed)
  const lines: string[] = []
  for (let r = 0; r < rows; r++) {
    const c = r % 3
    const x = [0, 1, 2].map((f) => (f === c ? 150 : 0) + Math.floor(100 * random()))
    lines.push((label === "none" ? x : [label === "bad" ? 7 : c, ...x]).join(","))
  }
  return `${lines.join("\n")}\n`
}

let server: LocalServer
let nc: NatsConnection
let dir: string
let datasets: DatasetStore
let models: ModelStore
let log: EventLog
let train: ResolvedTrainSpec
let stored: StoredModel
let params: Float32Array
let modelJob: ModelJob
let workerDatasets: DatasetStore

const submit = async (jobId: string, spec: ResolvedSpec): Promise<void> => {
  const event: DtqEvent = { type: "JobSubmitted", id: newEventId(), v: 1, ts: Date.now(), writer: { role: "producer", id: "p-test" }, jobId, spec }
  await log.append(event)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dtq-infer-"))
  server = await startLocalServer({ storeDir: join(dir, "nats") })
  nc = await connectCluster(server.url, { name: "infer-jobs-test" })
  datasets = await DatasetStore.open(nc)
  workerDatasets = await DatasetStore.open(nc)
  models = await ModelStore.open(nc)
  log = await EventLog.open(nc)
  writeFileSync(join(dir, "train.csv"), csvRows(300, 1))
  writeFileSync(join(dir, "test.csv"), csvRows(90, 2))
  writeFileSync(join(dir, "rows.csv"), csvRows(250, 3))
  writeFileSync(join(dir, "unlabeled.csv"), csvRows(41, 4, "none"))
  writeFileSync(join(dir, "badlabels.csv"), csvRows(10, 5, "bad"))
  writeFileSync(join(dir, "wide.csv"), "1,2,3,4,5\n0,1,1,1,1\n")
  const stores = { datasets, models, tensors: await TensorStore.open(nc) }
  const request = { kind: "train", model: "softmax", data: "train.csv", test: "test.csv", normalize: "zscore", epochs: 3, name: "the model" }
  train = resolveSpec(await prepareTraining(request, stores, "j-train", { cwd: dir })) as ResolvedTrainSpec
  await submit("j-train", train)
  const data = prepareTrainingData(train, await datasets.get(train.data), undefined)
  params = trainLocally({ shape: data.shape, target: data.target, train: data.train, epochs: 3, batchSize: 32, lr: 0.5, seed: 1, init: "zeros" }).params
  stored = await models.put("j-train", params, {})
  modelJob = { jobId: "j-train", state: "completed", spec: train, model: stored }
}, 30_000)

afterAll(async () => {
  await nc?.drain().catch(() => undefined)
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
})

const prepare = (request: Record<string, unknown>, job: ModelJob = modelJob) => prepareInference({ kind: "infer", model: job.jobId, ...request }, job, datasets, { cwd: dir })

const badSpecOf = async (run: Promise<unknown>): Promise<BadSpec> => {
  const error = await run.then(() => undefined, (e: unknown) => e)
  if (error instanceof BadSpec) return error
  throw new Error(`expected BadSpec, got ${String(error)}`)
}

describe("prepareInference", () => {
  it("defaults: the model's test set, labeled, batches of 100, share 1; resolveSpec accepts it", async () => {
    const spec = await prepare({})
    const resolved = resolveSpec(spec) as ResolvedInferSpec
    expect(resolved).toMatchObject({ kind: "infer", data: train.test, labeled: true, batchSize: 100, share: 1, tasks: 1, priority: 0 })
    expect(resolved.model).toEqual({ job: "j-train", ...stored })
    // The training fields only: no name, schedule or policy of the training job.
    expect(resolved.trained).toEqual(Object.fromEntries(Object.entries(train).filter(([k]) => !["name", "priority", "agingMs", "maxAttempts", "backoffMs", "backoffMaxMs", "leaseMs", "stallMs", "maxTaskMs", "speculation", "speculationQuantile", "speculationMultiplier", "speculationMinMs", "maxSpeculative", "placement"].includes(k))))
  })

  it("without a test set: the training data", async () => {
    const { test: _test, ...noTest } = train
    const spec = resolveSpec(await prepare({}, { ...modelJob, spec: noTest })) as ResolvedInferSpec
    expect(spec.data).toEqual(train.data)
    expect(spec.tasks).toBe(3)
  })

  it("a local file, with every option", async () => {
    const spec = resolveSpec(await prepare({ data: "rows.csv", batchSize: 40, share: 2.5, name: "scores", priority: "high", maxAttempts: 2 })) as ResolvedInferSpec
    expect(spec).toMatchObject({ data: { rows: 250, features: 3, source: "rows.csv" }, labeled: true, batchSize: 40, share: 2.5, tasks: 7, name: "scores", priority: 1, maxAttempts: 2 })
  })

  it("labels=none: every column a feature, unlabeled", async () => {
    const spec = resolveSpec(await prepare({ data: "unlabeled.csv", labels: "none", batchSize: 10 })) as ResolvedInferSpec
    expect(spec).toMatchObject({ data: { rows: 41, features: 3 }, labeled: false, tasks: 5 })
  })

  it("an object of the dtq-datasets bucket, by name (float rows decode intact)", async () => {
    const rows = { rows: 2, features: 3, x: Float32Array.of(0.5, 1.25, -3, 7, 8.5, 9), y: Float32Array.of(1, 2) }
    const ref = await datasets.put(rows, "floats")
    const spec = resolveSpec(await prepare({ data: ref.name })) as ResolvedInferSpec
    expect(spec.data).toEqual({ ...ref, source: ref.name })
  })

  it("refuses a model job that has no model, naming the field", async () => {
    for (const job of [
      { ...modelJob, state: "running" },
      { ...modelJob, model: undefined },
      { ...modelJob, spec: resolveSpec({ kind: "sum", from: "1", to: "10" }) }
    ]) {
      const error = await badSpecOf(prepare({}, job))
      expect(error.field).toBe("model")
      expect(error.message).toMatch(/j-train/)
    }
  })

  it("refuses data of the wrong width, naming both counts", async () => {
    const error = await badSpecOf(prepare({ data: "wide.csv" }))
    expect([error.field, error.message]).toEqual(["data", "wide.csv has 4 feature columns; the model of j-train takes 3"])
    const unlabeled = await badSpecOf(prepare({ data: "rows.csv", labels: "none" }))
    expect(unlabeled.message).toBe("rows.csv has 4 feature columns (labels=none: every column is a feature); the model of j-train takes 3")
  })

  it("refuses data that cannot be read, labels that are no class, and unknown keys", async () => {
    expect((await badSpecOf(prepare({ data: "missing.csv" }))).field).toBe("data")
    expect((await badSpecOf(prepare({ data: "no-such-object" }))).message).toMatch(/neither a file nor an object in the dtq-datasets bucket/)
    expect((await badSpecOf(prepare({ data: "badlabels.csv" }))).field).toBe("labels")
    expect((await badSpecOf(prepare({ bogus: 1 }))).field).toBe("bogus")
    expect((await badSpecOf(prepare({ batchSize: 0 }))).field).toBe("batchSize")
  })
})

describe("inferenceHandler", () => {
  const context = (jobId: string, index = 0, signal = new AbortController().signal): TaskContext => ({ signal, progress: () => undefined, jobId, index, attempt: 1 })
  // Stores of its own, as in a worker process: nothing cached from the producer's uploads.
  const handler = () => inferenceHandler({ log, datasets: workerDatasets, models })

  it("runs a job's batches: together they equal one prediction over every row", async () => {
    const spec = resolveSpec(await prepare({ data: "rows.csv", batchSize: 40 })) as ResolvedInferSpec
    await submit("j-infer", spec)
    const loads = { data: 0, models: 0 }
    const run = inferenceHandler({
      log,
      datasets: { get: (ref) => (loads.data++, workerDatasets.get(ref)) },
      models: { get: (name, digest) => (loads.models++, models.get(name, digest)) }
    })
    const segments = [{ firstTask: 0, firstRow: 0, batchSize: spec.batchSize }]
    // Concurrent first batches share one load.
    const results = (await Promise.all(
      Array.from({ length: spec.tasks }, (_, i) => run(batchRows(segments, spec.data.rows, i), context("j-infer", i)))
    )) as BatchResult[]
    // Training rows (for the normalizer) and the job's rows once, the weights once.
    expect(loads).toEqual({ data: 2, models: 1 })
    const rows = prepareInferenceData(spec, await datasets.get(train.data), await datasets.get(spec.data))
    const data = prepareTrainingData(train, await datasets.get(train.data), undefined)
    const whole = predictLocally(data.shape, data.target, params, rows, true)
    expect(results.flatMap((r) => r.predictions)).toEqual(whole.predictions)
    expect(results.reduce((n, r) => n + (r.correct ?? 0), 0)).toBe(whole.correct)
    expect(whole.correct as number).toBeGreaterThan(0.9 * spec.data.rows)
    // Plain JSON: what a TaskCompleted carries.
    expect(JSON.parse(JSON.stringify(results[0]))).toEqual(results[0])
  })

  it("an unlabeled job returns predictions only", async () => {
    const spec = resolveSpec(await prepare({ data: "unlabeled.csv", labels: "none" })) as ResolvedInferSpec
    await submit("j-unlabeled", spec)
    const result = (await handler()({ from: 0, to: 41 }, context("j-unlabeled"))) as BatchResult
    expect(Object.keys(result)).toEqual(["predictions"])
    expect(result.predictions.slice(0, 6)).toEqual([0, 1, 2, 0, 1, 2])
  })

  const failure = async (run: unknown): Promise<TaskError> => {
    const error = await Promise.resolve(run).then(() => undefined, (e: unknown) => e)
    if (error instanceof TaskError) return error
    throw new Error(`expected TaskError, got ${String(error)}`)
  }

  it("refuses bad input and a job that is no inference job, for good", async () => {
    const run = handler()
    for (const [input, jobId, message] of [
      [{ share: 0 }, "j-infer", /must be \{ from: integer, to: integer \}/],
      [{ from: 200, to: 300 }, "j-infer", /rows \[200, 300\) are not a batch of the 250 rows of rows.csv/],
      [{ from: 5, to: 5 }, "j-infer", /not a batch/],
      [{ from: 0, to: 10 }, "j-train", /j-train is a train job, not an inference job/]
    ] as const) {
      const error = await failure(run(input, context(jobId)))
      expect(error.message).toMatch(message)
      expect(error.retryable).toBe(false)
    }
  })

  it("a missing job or model may come back: retryable, named", async () => {
    const error = await failure(handler()({ from: 0, to: 1 }, context("j-nothing")))
    expect([error.retryable, error.message]).toEqual([true, "job j-nothing: no JobSubmitted event on dtq.ev.JobSubmitted.j-nothing"])
    const spec = resolveSpec(await prepare({})) as ResolvedInferSpec
    await submit("j-lost-model", { ...spec, model: { ...spec.model, name: "j-gone" } })
    const lost = await failure(handler()({ from: 0, to: 1 }, context("j-lost-model")))
    expect(lost.retryable).toBe(true)
    expect(lost.message).toMatch(/the model of job j-train \(dtq-models\/j-gone\)/)
  })

  it("does not compute a batch that is no longer wanted", async () => {
    const abort = new AbortController()
    abort.abort(new Error("not wanted"))
    await expect(Promise.resolve(handler()({ from: 0, to: 10 }, context("j-infer", 0, abort.signal)))).rejects.toThrow("not wanted")
  })
})
