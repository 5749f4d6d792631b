// Batch prediction: the model's answer for each row of [from, to), and with labels the hits and a
// confusion matrix. The same forward pass and the same decision as models.ts's `evaluate` (argmax with
// the first maximum winning, z > 0 for binary), so a job's batches agree with the training report.
// Hot code: the shared kernel workspace, no allocation per row.
import type { Dataset } from "../data/dataset.ts"
import type { BatchResult } from "../domain/infer-spec.ts"
import { argmaxOf, gatherRow, linearForward, mlpForward, releaseInputs, useSparseRow, workspaceFor, type Workspace } from "../training/kernels.ts"
import { checkShape, layoutOf, type ModelShape, type Target } from "../training/shape.ts"
import { sparseRowsOf } from "../training/sparse-rows.ts"

/** The size of a target's confusion matrix; undefined for regression. */
export const classesOfTarget = (target: Target): number | undefined =>
  target.kind === "multiclass" ? target.classes : target.kind === "binary" ? 2 : undefined

const checkInputs = (shape: ModelShape, target: Target, params: Float32Array, data: Dataset, from: number, to: number, classes: number | undefined): void => {
  checkShape(shape, target)
  if (data.features !== shape.features) throw new RangeError(`data has ${data.features} features, the model ${shape.features}`)
  if (params.length !== layoutOf(shape).size) throw new RangeError(`expected ${layoutOf(shape).size} parameters, got ${params.length}`)
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= data.rows)) {
    throw new RangeError(`rows [${from}, ${to}) are not within 0..${data.rows}`)
  }
  if (classes !== undefined && classes !== classesOfTarget(target)) throw new RangeError(`${classes} classes for a ${target.kind} target`)
}

/** The prediction from the scores of the last forward pass: a class index, 0/1, or the value. */
const decide = (target: Target, outputs: number, ws: Workspace): number => {
  const logits = ws.logits
  if (target.kind === "regression") return logits[0]!
  if (target.kind === "binary") return logits[0]! > 0 ? 1 : 0
  return argmaxOf(logits, outputs)
}

/** The label as a class index (as training maps it): 0/1 for binary, checked for multiclass. */
const truthOf = (target: Target, label: number, row: number): number => {
  if (target.kind === "binary") return label === target.positive ? 1 : 0
  if (target.kind === "multiclass" && !(Number.isInteger(label) && label >= 0 && label < target.classes)) {
    throw new RangeError(`row ${row}: label ${label} is not a class of 0..${target.classes - 1}`)
  }
  return label
}

/**
 * Predictions for rows [from, to) of `data` (already scaled as in training). When `labeled` and the
 * target has classes (`classes`: 2 for binary, the class count for multiclass), also the number of
 * correct predictions and confusion[true][predicted].
 */
export const predictBatch = (
  shape: ModelShape,
  target: Target,
  params: Float32Array,
  data: Dataset,
  from: number,
  to: number,
  labeled: boolean,
  classes: number | undefined
): BatchResult => {
  checkInputs(shape, target, params, data, from, to, classes)
  const ws = workspaceFor(shape)
  // Built once per data set and cached, so every batch of a job shares it.
  const sparse = sparseRowsOf(data)
  const { features, outputs } = shape
  const predictions = new Array<number>(to - from)
  const scoring = labeled && classes !== undefined
  const confusion = scoring ? Array.from({ length: classes }, () => new Array<number>(classes).fill(0)) : []
  let correct = 0
  try {
    for (let row = from; row < to; row++) {
      if (sparse === null) gatherRow(data.x, row * features, features, ws)
      else useSparseRow(sparse, row, ws)
      if (shape.kind === "mlp") mlpForward(shape, params, ws)
      else linearForward(shape, params, ws)
      const predicted = decide(target, outputs, ws)
      predictions[row - from] = predicted
      if (!scoring) continue
      const truth = truthOf(target, data.y[row]!, row)
      if (predicted === truth) correct++
      confusion[truth]![predicted]!++
    }
  } finally {
    releaseInputs(ws)
  }
  return scoring ? { predictions, correct, confusion } : { predictions }
}

/** Every row in one batch: the in-process reference a cluster's batches must add up to. */
export const predictLocally = (shape: ModelShape, target: Target, params: Float32Array, data: Dataset, labeled: boolean): BatchResult =>
  predictBatch(shape, target, params, data, 0, data.rows, labeled, classesOfTarget(target))
