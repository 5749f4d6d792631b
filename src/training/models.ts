// The four models behind one interface: initial parameters, the summed gradient of a set of rows,
// evaluation and prediction. Shapes and the parameter layout are in shape.ts, the per-row math in
// kernels.ts, whole-vector arithmetic in vectors.ts.
import type { Dataset } from "../data/dataset.ts"
import {
  gatherRow,
  linearBackward,
  linearForward,
  mlpBackward,
  mlpForward,
  sigmoidHead,
  softmaxHead,
  releaseInputs,
  squaredHead,
  useSparseRow,
  workspaceFor,
  type Workspace
} from "./kernels.ts"
import { seededRandom } from "./sampling.ts"
import { checkShape, layoutOf, type ModelShape, type Target } from "./shape.ts"
import { sparseRowsOf, type SparseRows } from "./sparse-rows.ts"

export { checkShape, layoutOf, parameterCount, shapeFor, type Layout, type ModelKind, type ModelShape, type Target } from "./shape.ts"
export { addInto, scaleInto, sgdStep, subtract } from "./vectors.ts"

export type Init = "zeros" | "random"

/**
 * Initial parameters. "random": weights uniform in ±sqrt(6 / fan), fan = fan_in + fan_out (Glorot)
 * for a softmax or linear layer, fan_in (He) for the mlp's ReLU layer; biases 0. "zeros": all 0 —
 * fine for the convex models, but an mlp started at zeros has every hidden unit dead (ReLU(0) = 0, no
 * gradient reaches W1) and only learns its output bias: use "random" for the mlp.
 */
export const initParameters = (shape: ModelShape, init: Init, seed: number): Float32Array => {
  const layout = layoutOf(shape)
  const params = new Float32Array(layout.size)
  if (init === "zeros") return params
  const random = seededRandom(seed)
  const fill = (from: number, to: number, limit: number) => {
    for (let i = from; i < to; i++) params[i] = (2 * random() - 1) * limit
  }
  const { features, hidden, outputs } = shape
  if (shape.kind === "mlp") {
    fill(layout.w1, layout.b1, Math.sqrt(6 / features))
    fill(layout.w2, layout.b2, Math.sqrt(6 / (hidden + outputs)))
  } else {
    fill(layout.w1, layout.b1, Math.sqrt(6 / (features + outputs)))
  }
  return params
}

const checkInputs = (shape: ModelShape, target: Target, params: Float32Array, data: Dataset): void => {
  checkShape(shape, target)
  if (data.features !== shape.features) throw new RangeError(`data has ${data.features} features, the model ${shape.features}`)
  if (params.length !== layoutOf(shape).size) throw new RangeError(`expected ${layoutOf(shape).size} parameters, got ${params.length}`)
}

/** The label as the model sees it: a class index (multiclass), 0/1 (binary) or the value (regression). */
const truthOf = (target: Target, label: number): number => {
  if (target.kind === "regression") return label
  if (target.kind === "binary") return label === target.positive ? 1 : 0
  if (!(label >= 0 && label < target.classes && Number.isInteger(label))) throw new RangeError(`label ${label} is not a class of 0..${target.classes - 1}`)
  return label
}

/** Forward pass of row `row`: scores in ws.logits (and the mlp's hidden layer in ws). */
const forwardRow = (shape: ModelShape, params: Float32Array, data: Dataset, sparse: SparseRows | null, row: number, ws: Workspace): void => {
  if (!(row >= 0 && row < data.rows)) throw new RangeError(`row ${row} outside 0..${data.rows - 1}`)
  if (sparse === null) gatherRow(data.x, row * shape.features, shape.features, ws)
  else useSparseRow(sparse, row, ws)
  if (shape.kind === "mlp") mlpForward(shape, params, ws)
  else linearForward(shape, params, ws)
}

/** Loss of the last forward pass against `truth`; sets ws.delta and ws.predicted. */
const headLoss = (shape: ModelShape, target: Target, truth: number, ws: Workspace): number => {
  if (target.kind === "multiclass") return softmaxHead(shape.outputs, truth, ws)
  if (target.kind === "binary") return sigmoidHead(truth, ws)
  return squaredHead(truth, ws)
}

export type GradientSums = { readonly loss: number; readonly correct: number; readonly count: number }

/**
 * ADDS the sum of the per-row gradients of `rows` at `params` into `grad` (the caller zeroes it),
 * and returns the summed loss, the number of correct predictions (0 for regression) and the row count.
 * Sums, not means, so the gradients of disjoint shares of a batch add up to the batch's.
 */
export const accumulateGradient = (
  shape: ModelShape,
  target: Target,
  params: Float32Array,
  data: Dataset,
  rows: Int32Array,
  grad: Float32Array
): GradientSums => {
  checkInputs(shape, target, params, data)
  if (grad.length !== params.length) throw new RangeError(`gradient has ${grad.length} entries, params ${params.length}`)
  const ws = workspaceFor(shape)
  const sparse = sparseRowsOf(data)
  const classifies = target.kind !== "regression"
  let loss = 0
  let correct = 0
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    forwardRow(shape, params, data, sparse, row, ws)
    const truth = truthOf(target, data.y[row]!)
    loss += headLoss(shape, target, truth, ws)
    if (classifies && ws.predicted === truth) correct++
    if (shape.kind === "mlp") mlpBackward(shape, params, grad, ws)
    else linearBackward(shape, grad, ws)
  }
  releaseInputs(ws)
  return { loss, correct, count: rows.length }
}

export type Evaluation = {
  /** Mean loss per row. */
  readonly loss: number
  /** Fraction of rows predicted right; null for regression. */
  readonly accuracy: number | null
  /** confusion[true][predicted] row counts: classes x classes, 2 x 2 for binary, [] for regression. */
  readonly confusion: number[][]
  readonly rows: number
}

/** Mean loss, accuracy and confusion matrix of the model on every row of `data`. */
export const evaluate = (shape: ModelShape, target: Target, params: Float32Array, data: Dataset): Evaluation => {
  checkInputs(shape, target, params, data)
  const ws = workspaceFor(shape)
  const sparse = sparseRowsOf(data)
  const classes = target.kind === "regression" ? 0 : shape.kind === "logreg" ? 2 : shape.outputs
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0))
  let loss = 0
  let correct = 0
  for (let row = 0; row < data.rows; row++) {
    forwardRow(shape, params, data, sparse, row, ws)
    const truth = truthOf(target, data.y[row]!)
    loss += headLoss(shape, target, truth, ws)
    if (classes === 0) continue
    if (ws.predicted === truth) correct++
    confusion[truth]![ws.predicted]!++
  }
  releaseInputs(ws)
  const rows = data.rows
  return {
    loss: rows === 0 ? 0 : loss / rows,
    accuracy: classes === 0 ? null : rows === 0 ? 0 : correct / rows,
    confusion,
    rows
  }
}

/** The model's prediction for row `row`: a class index, 0/1 (binary) or a value (regression). */
export const predict = (shape: ModelShape, target: Target, params: Float32Array, data: Dataset, row: number): number => {
  checkInputs(shape, target, params, data)
  const ws = workspaceFor(shape)
  // One row: gathering it beats building the whole data set's sparse rows.
  forwardRow(shape, params, data, null, row, ws)
  // The head needs a label; 0 is valid for every target and the prediction does not depend on it.
  headLoss(shape, target, 0, ws)
  return ws.predicted
}
