// What a model is (kind and sizes), what it predicts (target), and where each parameter lives in
// the flat Float32Array that the cluster ships around.
//
// Layout. Every layer is stored input-major — W[i * out + o], i.e. inputs x outputs row-major, the
// transpose of the textbook out x in — followed by its bias[out]. Input-major because rows are sparse
// (MNIST is ~80 % zeros): each non-zero input then touches one contiguous block of weights.
//   linreg, logreg:  W[features x 1], b[1]
//   softmax:         W[features x classes], b[classes]
//   mlp:             W1[features x hidden], b1[hidden], W2[hidden x classes], b2[classes]

export type ModelKind = "linreg" | "logreg" | "softmax" | "mlp"

/**
 * regression: the label is the value (linreg, squared loss 1/2 (y - ŷ)²).
 * binary: one-vs-rest, label === positive is 1, any other label 0 (logreg, log-loss).
 * multiclass: labels 0..classes-1 (softmax, mlp; cross-entropy).
 */
export type Target =
  | { readonly kind: "regression" }
  | { readonly kind: "binary"; readonly positive: number }
  | { readonly kind: "multiclass"; readonly classes: number }

export type ModelShape = {
  readonly kind: ModelKind
  readonly features: number
  /** 1 for linreg and logreg, the number of classes otherwise. */
  readonly outputs: number
  /** Hidden units of the mlp; 0 for the other kinds. */
  readonly hidden: number
}

/** The shape of a `kind` model over `features` inputs predicting `target`. */
export const shapeFor = (kind: ModelKind, features: number, target: Target, hidden = 0): ModelShape => {
  const outputs = target.kind === "multiclass" ? target.classes : 1
  const shape: ModelShape = { kind, features, outputs, hidden: kind === "mlp" ? hidden : 0 }
  checkShape(shape, target)
  return shape
}

const TARGET_OF_KIND: Record<ModelKind, Target["kind"]> = {
  linreg: "regression",
  logreg: "binary",
  softmax: "multiclass",
  mlp: "multiclass"
}

/** Throws when the shape is malformed or does not fit the target. */
export const checkShape = (shape: ModelShape, target: Target): void => {
  const problem = shapeProblem(shape, target)
  if (problem !== undefined) throw new RangeError(`model ${shape.kind}: ${problem}`)
}

const isCount = (n: number, min: number) => Number.isInteger(n) && n >= min

const shapeProblem = (shape: ModelShape, target: Target): string | undefined => {
  if (TARGET_OF_KIND[shape.kind] !== target.kind) return `needs a ${TARGET_OF_KIND[shape.kind]} target, got ${target.kind}`
  if (!isCount(shape.features, 1)) return `features must be a positive integer, got ${shape.features}`
  const outputs = target.kind === "multiclass" ? target.classes : 1
  if (target.kind === "multiclass" && !isCount(target.classes, 2)) return `needs at least 2 classes, got ${target.classes}`
  if (shape.outputs !== outputs) return `outputs must be ${outputs}, got ${shape.outputs}`
  if (shape.kind === "mlp" ? !isCount(shape.hidden, 1) : shape.hidden !== 0) return `bad hidden size ${shape.hidden}`
  return undefined
}

/** Offsets of the parameter blocks in the flat vector (see the layout above). */
export type Layout = {
  /** First-layer weights (the only layer of the linear models), features x width. */
  readonly w1: number
  readonly b1: number
  /** Second layer of the mlp, hidden x outputs; equal to `size` for the linear models. */
  readonly w2: number
  readonly b2: number
  readonly size: number
}

export const layoutOf = (shape: ModelShape): Layout => {
  const { features, outputs, hidden } = shape
  if (shape.kind !== "mlp") {
    const size = features * outputs + outputs
    return { w1: 0, b1: features * outputs, w2: size, b2: size, size }
  }
  const w2 = features * hidden + hidden
  const b2 = w2 + hidden * outputs
  return { w1: 0, b1: features * hidden, w2, b2, size: b2 + outputs }
}

export const parameterCount = (shape: ModelShape): number => layoutOf(shape).size
