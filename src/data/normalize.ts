// Per-feature scaling fitted on the training set and applied, unchanged, to every set the model sees.
import type { Dataset } from "./dataset.ts"
import { DataError } from "./errors.ts"

/**
 * none: as is; max: every feature divided by the largest absolute value in the whole training set (pixels
 * 0..255 become 0..1, their relative scale kept); minmax: each feature to [0, 1]; zscore: each feature to
 * mean 0, standard deviation 1; a number (the Java predecessor's `normalize=255`): every feature divided
 * by it, whatever the data (1 is none).
 */
export type Normalization = "none" | "max" | "minmax" | "zscore" | number

export const NORMALIZATIONS: ReadonlyArray<Normalization> = ["none", "max", "minmax", "zscore"]

/** Whether the normalizer depends on the training rows (a named one other than none); a divisor does not. */
export const fittedOnRows = (how: Normalization): boolean => typeof how === "string" && how !== "none"

/** x' = (x - offset[f]) * scale[f] for each feature f. A constant feature has scale 0: it becomes 0, never NaN. */
export type Normalizer = {
  readonly how: Normalization
  readonly offset: Float32Array
  readonly scale: Float32Array
}

/** Fits a normalizer to the training set. Sums run in float64 in row order, so the result is deterministic. */
export const fitNormalizer = (train: Dataset, how: Normalization): Normalizer => {
  const { rows, features, x } = train
  const offset = new Float32Array(features)
  const scale = new Float32Array(features).fill(1)
  if (typeof how === "number") return { how, offset, scale: scale.fill(1 / how) }
  if (how === "none" || rows === 0) return { how, offset, scale }
  if (how === "max") {
    let largest = 0
    for (let i = 0; i < rows * features; i++) largest = Math.max(largest, Math.abs(x[i] as number))
    return { how, offset, scale: scale.fill(largest === 0 ? 1 : 1 / largest) }
  }
  const min = new Float64Array(features).fill(Infinity)
  const max = new Float64Array(features).fill(-Infinity)
  const sum = new Float64Array(features)
  for (let r = 0, i = 0; r < rows; r++) {
    for (let f = 0; f < features; f++, i++) {
      const v = x[i] as number
      if (v < (min[f] as number)) min[f] = v
      if (v > (max[f] as number)) max[f] = v
      sum[f] = (sum[f] as number) + v
    }
  }
  if (how === "minmax") {
    for (let f = 0; f < features; f++) {
      const lo = min[f] as number
      offset[f] = lo
      scale[f] = usableScale(1 / ((max[f] as number) - lo))
    }
    return { how, offset, scale }
  }
  // zscore: a second pass for the variance about the mean, which stays accurate where E[x^2] - E[x]^2 does not.
  const mean = sum.map((s) => s / rows)
  const squares = new Float64Array(features)
  for (let r = 0, i = 0; r < rows; r++) {
    for (let f = 0; f < features; f++, i++) {
      const d = (x[i] as number) - (mean[f] as number)
      squares[f] = (squares[f] as number) + d * d
    }
  }
  for (let f = 0; f < features; f++) {
    offset[f] = mean[f] as number
    // min === max is the exact test for a constant feature, whatever rounding the variance carries.
    scale[f] = min[f] === max[f] ? 0 : usableScale(1 / Math.sqrt((squares[f] as number) / rows))
  }
  return { how, offset, scale }
}

/**
 * A new Dataset with the features normalized (labels copied unchanged). `source` names the data set in
 * the DataError raised when its feature count differs from the one the normalizer was fitted on.
 */
export const applyNormalizer = (data: Dataset, normalizer: Normalizer, source = "the data set"): Dataset => {
  const { rows, features } = data
  if (normalizer.offset.length !== features) {
    throw new DataError(source, `has ${features} features; the normalizer was fitted on ${normalizer.offset.length}`)
  }
  const x = new Float32Array(rows * features)
  const input = data.x
  const { offset, scale } = normalizer
  for (let r = 0, i = 0; r < rows; r++) {
    for (let f = 0; f < features; f++, i++) {
      const s = scale[f] as number
      // A zero scale gives exactly 0, even for a value the training set never had.
      x[i] = s === 0 ? 0 : ((input[i] as number) - (offset[f] as number)) * s
    }
  }
  return { rows, features, x, y: data.y.slice(0, rows) }
}

/** A scale that a float32 holds: a range too small to invert in float32 is treated as constant. */
const usableScale = (scale: number): number => (Number.isFinite(Math.fround(scale)) ? scale : 0)
