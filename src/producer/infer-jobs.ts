// Turning an inference request into a resolved spec: check that the model job is a finished training
// job with a stored model, read and upload the rows to predict (or reuse the model's test or training
// data, already in the Object Store), check their width against the model, and fix every default.
import type { Dataset } from "../data/dataset.ts"
import { classCount } from "../data/dataset.ts"
import { BadSpec } from "../domain/errors.ts"
import { DEFAULT_BATCH_SIZE, batchCount, decodeInferRequest, type InferRequest } from "../domain/infer-spec.ts"
import { PRIORITY_NAMES, type ResolvedSpec } from "../domain/job-spec.ts"
import { ResolvedTrainFields, type DataRef, type TrainingSpec } from "../domain/train-spec.ts"
import type { DatasetStore } from "../nats/dataset-store.ts"
import { readRows } from "./data-refs.ts"

/** The model job as the producer sees it (a job view, or a replay of the log). */
export type ModelJob = {
  readonly jobId: string
  readonly state: string
  readonly spec: ResolvedSpec
  readonly model?: { readonly bucket: string; readonly name: string; readonly digest: string; readonly bytes: number }
}

const fail = (field: string, message: string): never => {
  throw new BadSpec({ field, message })
}

/**
 * The resolved spec of an inference request (still to be checked by resolveSpec on submission).
 * `cwd` anchors relative data paths.
 */
export const prepareInference = async (
  input: unknown,
  model: ModelJob,
  datasets: Pick<DatasetStore, "put" | "raw">,
  options: { cwd?: string } = {}
): Promise<Record<string, unknown>> => {
  const request = decodeInferRequest(input)
  const trained = trainedSpec(model)
  const stored = model.model as NonNullable<ModelJob["model"]>
  const csv = dataOptions(request, trained, model.jobId)
  const labeled = csv.label !== "none"
  const data = request.data === undefined
    ? (trained.test ?? trained.data)
    : await loadRows(request.data, csv, trained, datasets, options.cwd ?? process.cwd())
  if (data.features !== trained.features) {
    const hint = csv.label === "none" ? ` (${request.labels === undefined ? "csvLabel" : "labels"}=none: every column is a feature)` : ""
    fail("data", `${data.source} has ${data.features} feature columns${hint}; the model of ${model.jobId} takes ${trained.features}`)
  }
  const batchSize = request.batchSize ?? DEFAULT_BATCH_SIZE
  return {
    kind: "infer",
    model: { job: model.jobId, bucket: stored.bucket, name: stored.name, digest: stored.digest, bytes: stored.bytes },
    trained,
    data,
    labeled,
    batchSize,
    share: request.share ?? 1,
    tasks: batchCount(data.rows, 0, 0, batchSize),
    ...(request.name === undefined ? {} : { name: request.name }),
    ...(request.priority === undefined ? {} : { priority: typeof request.priority === "string" ? PRIORITY_NAMES[request.priority] : request.priority }),
    ...(request.maxAttempts === undefined ? {} : { maxAttempts: request.maxAttempts })
  }
}

/** The model job's training fields, or a refusal when it has no usable model. */
const trainedSpec = (model: ModelJob): TrainingSpec => {
  const { spec } = model
  if (spec.kind !== "train") return fail("model", `job ${model.jobId} is a ${spec.kind} job; inference needs a finished training job`)
  if (model.state !== "completed" || model.model === undefined) {
    return fail("model", `job ${model.jobId} is a training job that is ${model.state}${model.state === "completed" ? " without a stored model" : ""}; inference needs one that completed`)
  }
  // The training part only: the job's name, schedule and policy are not the model's.
  const fields: Record<string, unknown> = {}
  for (const key of Object.keys(ResolvedTrainFields)) {
    const value = (spec as Record<string, unknown>)[key]
    if (value !== undefined) fields[key] = value
  }
  return fields as TrainingSpec
}

type DataOptions = { readonly label: "first" | "last" | "none"; readonly hasHeader?: boolean }

/**
 * The data options of an inference job: those given (`csvLabel`, or its older spelling `labels`;
 * `hasHeader`), else the model's own, so that the files a model was trained on read the same way here.
 * `normalize` may be given (a training line's keys can be reused) but must be the model's: rows are
 * always scaled as its training scaled them.
 */
const dataOptions = (request: InferRequest, trained: TrainingSpec, modelJob: string): DataOptions => {
  if (request.csvLabel !== undefined && request.labels !== undefined && request.csvLabel !== request.labels) {
    fail("labels", `is ${request.labels} but csvLabel is ${request.csvLabel}: they are two spellings of one key; give one`)
  }
  if (request.normalize !== undefined) {
    const asked = request.normalize === true ? "minmax" : request.normalize === false || request.normalize === 1 ? "none" : request.normalize
    if (asked !== trained.normalize) {
      fail("normalize", `is ${String(request.normalize)}, but the model of ${modelJob} was trained with normalize=${trained.normalize}; inference scales rows as the model's training did (leave normalize out, or give ${trained.normalize})`)
    }
  }
  const label = request.csvLabel ?? request.labels ?? trained.csvLabel ?? "first"
  const hasHeader = request.hasHeader ?? trained.hasHeader
  return { label, ...(hasHeader === undefined ? {} : { hasHeader }) }
}

/** Reads and checks the rows a request names, and uploads them once by digest. */
const loadRows = async (ref: string, csv: DataOptions, trained: TrainingSpec, datasets: Pick<DatasetStore, "put" | "raw">, cwd: string): Promise<DataRef> => {
  const rows = await readRows("data", ref, datasets, csv, cwd)
  if (rows.rows === 0) fail("data", `${ref} has no rows`)
  // Only when the width fits: otherwise the width error (in prepareInference) says more.
  if (rows.features === trained.features && csv.label !== "none") checkLabels(rows, trained, ref)
  return datasets.put(rows, ref)
}

/** Labels a multiclass model can score: classes 0..outputs-1 (a worker would fail the job on any other). */
const checkLabels = (rows: Dataset, trained: TrainingSpec, source: string): void => {
  if (trained.target.kind !== "multiclass") return
  const found = classCount(rows)
  if (found === 0 || found > trained.outputs) {
    fail("labels", `${source} has labels that are not classes 0..${trained.outputs - 1} of the model; give the label column (csvLabel=first|last) or csvLabel=none`)
  }
}
