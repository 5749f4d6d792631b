import { describe, expect, it } from "vitest"
import type { Dataset } from "../../src/data/dataset.ts"
import { DataError } from "../../src/data/errors.ts"
import { applyNormalizer, fitNormalizer } from "../../src/data/normalize.ts"

const f32 = Math.fround

/** 4 rows x 3 features: an increasing column, a constant one and one centred on 0. */
const train: Dataset = {
  rows: 4,
  features: 3,
  x: Float32Array.of(1, 5, -2, 2, 5, 0, 3, 5, 2, 4, 5, 0),
  y: Float32Array.of(0, 1, 0, 1)
}

/** What applyNormalizer must give: (x - offset) * scale, rounded once to float32. */
const expected = (values: ArrayLike<number>, offset: ArrayLike<number>, scale: ArrayLike<number>, features: number) =>
  Array.from(values, (v, i) => f32((v - (offset[i % features] as number)) * (scale[i % features] as number)))

describe("fitNormalizer", () => {
  it("none: offset 0, scale 1, values unchanged", () => {
    const n = fitNormalizer(train, "none")
    expect([n.how, Array.from(n.offset), Array.from(n.scale)]).toEqual(["none", [0, 0, 0], [1, 1, 1]])
    expect(Array.from(applyNormalizer(train, n).x)).toEqual(Array.from(train.x))
  })

  it("minmax: offset is the minimum, scale 1 / range; a constant column gets scale 0", () => {
    const n = fitNormalizer(train, "minmax")
    expect(Array.from(n.offset)).toEqual([1, 5, -2])
    expect(Array.from(n.scale)).toEqual([f32(1 / 3), 0, 0.25])
    const x = applyNormalizer(train, n).x
    expect(Array.from(x)).toEqual([0, 0, 0, f32(1 / 3), 0, 0.5, f32(2 * f32(1 / 3)), 0, 1, 1, 0, 0.5])
  })

  it("zscore: offset is the mean, scale 1 / population standard deviation", () => {
    const n = fitNormalizer(train, "zscore")
    expect(Array.from(n.offset)).toEqual([2.5, 5, 0])
    expect(Array.from(n.scale)).toEqual([f32(1 / Math.sqrt(1.25)), 0, f32(1 / Math.sqrt(2))])
    const x = applyNormalizer(train, n).x
    expect(Array.from(x)).toEqual(expected(train.x, n.offset, n.scale, 3))
    // Each normalized column has mean 0 and standard deviation 1 (the constant one is all 0).
    for (const [f, std] of [[0, 1], [1, 0], [2, 1]] as const) {
      const column = [0, 1, 2, 3].map((r) => x[r * 3 + f] as number)
      const mean = column.reduce((a, b) => a + b, 0) / 4
      expect(mean).toBeCloseTo(0, 6)
      expect(Math.sqrt(column.reduce((a, v) => a + (v - mean) ** 2, 0) / 4)).toBeCloseTo(std, 6)
    }
  })

  it("a constant column becomes 0 in every set, even where a test set has another value", () => {
    const rows = 10
    const d: Dataset = { rows, features: 2, x: Float32Array.from({ length: rows * 2 }, (_, i) => (i % 2 === 0 ? 0.1 : i)), y: new Float32Array(rows) }
    const test: Dataset = { rows: 1, features: 2, x: Float32Array.of(7, 3), y: Float32Array.of(0) }
    for (const how of ["minmax", "zscore"] as const) {
      const n = fitNormalizer(d, how)
      expect(n.scale[0], how).toBe(0)
      const x = applyNormalizer(d, n).x
      expect(Array.from({ length: rows }, (_, r) => x[r * 2]), how).toEqual(new Array(rows).fill(0))
      expect(applyNormalizer(test, n).x[0], how).toBe(0)
    }
  })

  it("is deterministic", () => {
    for (const how of ["none", "minmax", "zscore"] as const) {
      const a = fitNormalizer(train, how)
      const b = fitNormalizer(train, how)
      expect([Array.from(a.offset), Array.from(a.scale)]).toEqual([Array.from(b.offset), Array.from(b.scale)])
    }
  })

  it("an empty training set gives the identity", () => {
    const n = fitNormalizer({ rows: 0, features: 2, x: new Float32Array(0), y: new Float32Array(0) }, "zscore")
    expect([Array.from(n.offset), Array.from(n.scale)]).toEqual([[0, 0], [1, 1]])
  })
})

describe("applyNormalizer", () => {
  it("normalizes a test set with the training set's normalizer: outside the training range stays outside [0, 1]", () => {
    const n = fitNormalizer(train, "minmax")
    const test: Dataset = { rows: 2, features: 3, x: Float32Array.of(7, 9, 6, -2, 5, -4), y: Float32Array.of(3, 4) }
    const out = applyNormalizer(test, n)
    expect(Array.from(out.x)).toEqual([2, 0, 2, -1, 0, -0.5])
    expect(Array.from(out.y)).toEqual([3, 4])
  })

  it("returns a new Dataset and leaves its input alone", () => {
    const before = Array.from(train.x)
    const out = applyNormalizer(train, fitNormalizer(train, "zscore"))
    expect(out.x).not.toBe(train.x)
    expect(out.y).not.toBe(train.y)
    expect([out.rows, out.features]).toEqual([4, 3])
    expect(Array.from(train.x)).toEqual(before)
  })

  it("refuses a data set with another number of features", () => {
    const n = fitNormalizer(train, "minmax")
    const other: Dataset = { rows: 1, features: 2, x: Float32Array.of(1, 2), y: Float32Array.of(0) }
    const run = () => applyNormalizer(other, n, "data/test.csv")
    expect(run).toThrow(DataError)
    expect(run).toThrow("data/test.csv has 2 features; the normalizer was fitted on 3")
    expect(() => applyNormalizer(other, n)).toThrow("the data set has 2 features; the normalizer was fitted on 3")
  })
})
