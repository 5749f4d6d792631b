// A data set in memory: rows of numeric features and one label per row. Pure data, no I/O.

export type Dataset = {
  readonly rows: number
  readonly features: number
  /** rows x features, row-major. */
  readonly x: Float32Array
  /** One label per row: a class index (0, 1, 2, ...) or, for regression, the target value. */
  readonly y: Float32Array
}

/** Number of classes of integer labels: the largest label + 1 (0 when a label is not a non-negative integer). */
export const classCount = (data: Dataset): number => {
  let max = -1
  for (let i = 0; i < data.rows; i++) {
    const label = data.y[i] as number
    if (!Number.isInteger(label) || label < 0) return 0
    if (label > max) max = label
  }
  return max + 1
}
