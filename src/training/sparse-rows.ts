// The non-zero inputs of each row of a mostly-zero data set (MNIST pixels are ~80 % zeros), found
// once per data set: finding them row by row costs as much as a linear model's whole gradient.
import type { Dataset } from "../data/dataset.ts"

/** Compressed sparse rows: row r's non-zero inputs are index/value[start[r] .. start[r + 1]). */
export type SparseRows = {
  readonly start: Int32Array
  readonly index: Int32Array
  readonly value: Float32Array
}

// Above this share of non-zeros the sparse copy saves little time and costs up to twice the memory.
const MAX_DENSITY = 0.5

// Per data set object; a Dataset is immutable, so its sparse rows never go stale.
const cache = new WeakMap<Dataset, SparseRows | null>()

/** The data set's rows in sparse form, built on first use; null when the data is too dense to gain. */
export const sparseRowsOf = (data: Dataset): SparseRows | null => {
  const cached = cache.get(data)
  if (cached !== undefined) return cached
  const built = buildSparseRows(data)
  cache.set(data, built)
  return built
}

const buildSparseRows = (data: Dataset): SparseRows | null => {
  const { x } = data
  const cells = data.rows * data.features
  let nonZeros = 0
  for (let i = 0; i < cells; i++) if (x[i] !== 0) nonZeros++
  if (nonZeros > MAX_DENSITY * cells) return null
  const start = new Int32Array(data.rows + 1)
  const index = new Int32Array(nonZeros)
  const value = new Float32Array(nonZeros)
  let at = 0
  for (let row = 0; row < data.rows; row++) {
    const offset = row * data.features
    for (let j = 0; j < data.features; j++) {
      const v = x[offset + j]!
      if (v !== 0) {
        index[at] = j
        value[at] = v
        at++
      }
    }
    start[row + 1] = at
  }
  return { start, index, value }
}
