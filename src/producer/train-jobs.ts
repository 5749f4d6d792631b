// Turning a training request into a resolved spec: read the data (local files or an Object Store name),
// parse it (a bad row fails here, naming file, line and column, before anything enters the log), upload
// it once by digest, fix the model's shape and every default, and publish initial weights when given.
import { fileURLToPath } from "node:url"
import { readFile } from "node:fs/promises"
import { SHIPPED_MNIST_TEST, SHIPPED_MNIST_TRAIN } from "../data/shipped.ts"
import type { Dataset } from "../data/dataset.ts"
import { classCount } from "../data/dataset.ts"
import { BadSpec } from "../domain/errors.ts"
import {
  DEFAULT_TRAINING,
  MAX_PARAMETERS,
  MODEL_DEFAULTS,
  decodeTrainRequest,
  defaultTask,
  parameterCount,
  parseTarget,
  type DataRef,
  type TensorRef,
  type TrainRequest
} from "../domain/train-spec.ts"
import type { DatasetStore } from "../nats/dataset-store.ts"
import { readRows } from "./data-refs.ts"
import type { ModelStore } from "../nats/model-store.ts"
import type { TensorStore } from "../nats/tensor-store.ts"
import { parseWeightsCsv } from "../reports/training-files.ts"

/** The shipped MNIST subset (data/mnist/README.md): the default data set. */
export const DEFAULT_TRAIN_DATA = SHIPPED_MNIST_TRAIN
export const DEFAULT_TEST_DATA = SHIPPED_MNIST_TEST

export type TrainingStores = { readonly datasets: DatasetStore; readonly tensors: TensorStore; readonly models: ModelStore }

const fail = (field: string, message: string): never => {
  throw new BadSpec({ field, message })
}

/** A warm start: the finished job whose weights a new one starts from (`dtq resume`). */
export type WarmStart = { readonly jobId: string; readonly model: { name: string; digest: string }; readonly request: Record<string, unknown> }

/**
 * The resolved spec of a training request (still to be checked by resolveSpec on submission).
 * `cwd` anchors relative data paths.
 */
export const prepareTraining = async (input: unknown, stores: TrainingStores, jobId: string, options: { cwd?: string; warmStart?: WarmStart } = {}): Promise<Record<string, unknown>> => {
  const request = decodeTrainRequest(input)
  const cwd = options.cwd ?? process.cwd()
  const model = request.model ?? DEFAULT_TRAINING.model
  const task = request.task ?? defaultTask(model)
  const target = parseTarget(task, model)
  const shipped = request.data === undefined
  const csv = { label: request.csvLabel ?? "first", ...(request.hasHeader === undefined ? {} : { hasHeader: request.hasHeader }) } as const
  const train = await loadData("data", request.data ?? DEFAULT_TRAIN_DATA, stores.datasets, csv, cwd)
  const testRef = request.test ?? (shipped ? DEFAULT_TEST_DATA : undefined)
  const test = testRef === undefined ? undefined : await loadData("test", testRef, stores.datasets, csv, cwd)
  const features = train.data.features
  if (request.features !== undefined && request.features !== features) {
    fail("features", `is ${request.features}, but ${train.source} has ${features} feature columns (a features mismatch: give features=${features} or leave it out)`)
  }
  if (test !== undefined && test.data.features !== features) fail("test", `${test.source} has ${test.data.features} feature columns; ${train.source} has ${features}`)
  // More samples than rows (the predecessor's demo asks 60,000 of MNIST): all rows are used, and the
  // spec records what was asked, so the job says so.
  const samples = Math.min(request.samples ?? train.data.rows, train.data.rows)
  const samplesRequested = request.samples !== undefined && request.samples > train.data.rows ? request.samples : undefined
  let outputs = 1
  if (target.kind === "multiclass") {
    const found = Math.max(classCount(train.data), test === undefined ? 0 : classCount(test.data))
    if (found === 0) fail("task", `multiclass needs labels 0, 1, 2, ...; ${train.source} has a label that is not a non-negative integer`)
    outputs = request.classes ?? Math.max(2, found)
    if (outputs < found) fail("classes", `is ${outputs}, but the data has labels up to ${found - 1}`)
  }
  const defaults = MODEL_DEFAULTS[model]
  const hidden = model === "mlp" ? (request.hidden ?? defaults.hidden) : 0
  if (model !== "mlp" && request.hidden !== undefined) fail("hidden", `is for model=mlp, not ${model}`)
  const parameters = parameterCount(model, features, outputs, hidden)
  if (parameters > MAX_PARAMETERS) {
    fail(model === "mlp" ? "hidden" : "model", `the model would have ${parameters} parameters; at most ${MAX_PARAMETERS} travel in one message (use fewer hidden units)`)
  }
  const init = options.warmStart !== undefined ? "weights" : (request.init ?? (model === "mlp" ? "random" : "zeros"))
  const initTensor = await initialWeights(request, stores, jobId, parameters, cwd, options.warmStart)
  const asked = request.normalize === true ? "minmax" : request.normalize === false ? "none" : (request.normalize ?? "max")
  // normalize=1 divides by one: no scaling, stored as none so that a replay and inference need nothing.
  const normalize = asked === 1 ? "none" : asked
  return {
    kind: "train",
    model,
    task,
    target: target.kind === "multiclass" ? { kind: "multiclass", classes: outputs } : target,
    data: train.ref,
    ...(test === undefined ? {} : { test: test.ref }),
    samples,
    ...(samplesRequested === undefined ? {} : { samplesRequested }),
    csvLabel: csv.label,
    ...(csv.hasHeader === undefined ? {} : { hasHeader: csv.hasHeader }),
    features,
    outputs,
    hidden,
    parameters,
    normalize,
    epochs: request.epochs ?? defaults.epochs,
    batchSize: request.batchSize ?? defaults.batchSize,
    lr: request.lr ?? defaults.lr,
    lrDecay: request.lrDecay ?? defaults.lrDecay,
    seed: request.seed ?? DEFAULT_TRAINING.seed,
    mode: request.mode ?? DEFAULT_TRAINING.mode,
    backup: request.backup ?? DEFAULT_TRAINING.backup,
    staleness: request.staleness ?? DEFAULT_TRAINING.staleness,
    localEpochs: request.localEpochs ?? DEFAULT_TRAINING.localEpochs,
    init,
    ...(initTensor === undefined ? {} : { initTensor }),
    ...(options.warmStart === undefined ? {} : { resumedFrom: options.warmStart.jobId }),
    patience: request.patience ?? DEFAULT_TRAINING.patience,
    minDelta: request.minDelta ?? DEFAULT_TRAINING.minDelta,
    tasks: request.workers ?? DEFAULT_TRAINING.workers,
    ...(request.name === undefined ? {} : { name: request.name }),
    ...(request.priority === undefined ? {} : { priority: typeof request.priority === "string" ? { low: -1, normal: 0, high: 1 }[request.priority] : request.priority }),
    maxAttempts: request.maxAttempts ?? DEFAULT_TRAINING.maxAttempts,
    ...(request.placement === undefined ? {} : { placement: request.placement })
  }
}

type Loaded = { readonly data: Dataset; readonly ref: DataRef; readonly source: string }

/** Reads the rows (a bad file names the key) and uploads them once by digest. */
const loadData = async (field: string, ref: string, datasets: DatasetStore, csv: { label: "first" | "last"; hasHeader?: boolean }, cwd: string): Promise<Loaded> => {
  const data = await readRows(field, ref, datasets, csv, cwd)
  const source = ref === DEFAULT_TRAIN_DATA ? "data/mnist/train.csv.gz" : ref === DEFAULT_TEST_DATA ? "data/mnist/test.csv.gz" : ref
  return { data, ref: await datasets.put(data, source), source }
}

/** init=weights: inline (`w=`), from a file (`wFile=`), or a finished job's model (a warm start). */
const initialWeights = async (request: TrainRequest, stores: TrainingStores, jobId: string, parameters: number, cwd: string, warm: WarmStart | undefined): Promise<TensorRef | undefined> => {
  let values: Float32Array | undefined
  if (warm !== undefined) {
    values = await stores.models.get(warm.model.name, warm.model.digest)
    if (values.length !== parameters) fail("model", `job ${warm.jobId}'s model has ${values.length} parameters; with these settings the model has ${parameters}`)
  } else if (request.w !== undefined) {
    const numbers = request.w.split(",").map((text, i) => {
      const value = Number(text)
      return text.trim() === "" || !Number.isFinite(value) ? fail("w", `value ${i + 1} (${JSON.stringify(text)}) is not a number`) : value
    })
    if (numbers.length !== parameters) fail("w", `has ${numbers.length} values; the model has ${parameters} parameters`)
    values = Float32Array.from(numbers)
  } else if (request.wFile !== undefined) {
    const path = request.wFile.startsWith("file:") ? fileURLToPath(new URL(request.wFile, `file://${cwd}/`)) : request.wFile
    const text = await readFile(path.startsWith("/") ? path : `${cwd}/${path}`, "utf8").catch((error: Error) => fail("wFile", `cannot read ${request.wFile}: ${error.message}`))
    try {
      values = parseWeightsCsv(text, parameters)
    } catch (error) {
      fail("wFile", `${request.wFile}: ${(error as Error).message}`)
    }
  }
  return values === undefined ? undefined : stores.tensors.put(jobId, "m", values)
}
