import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseCsv } from "../../src/data/csv.ts"
import type { Dataset } from "../../src/data/dataset.ts"
import { batchResultProblem, type BatchResult } from "../../src/domain/infer-spec.ts"
import type { TrainingSpec } from "../../src/domain/train-spec.ts"
import { prepareInferenceData } from "../../src/inference/infer-data.ts"
import { classesOfTarget, predictBatch, predictLocally } from "../../src/inference/predict.ts"
import { firstRows, prepareTrainingData } from "../../src/training/job-data.ts"
import { trainLocally } from "../../src/training/local-trainer.ts"
import { evaluate, predict, shapeFor, type ModelKind, type ModelShape, type Target } from "../../src/training/models.ts"
import { seededRandom } from "../../src/training/sampling.ts"

const mnist = (name: string): Dataset => {
  const source = join(import.meta.dirname, "..", "..", "data", "mnist", name)
  return parseCsv(readFileSync(source), { source, label: "first" })
}
const TRAIN = firstRows(mnist("train.csv.gz"), 1500)
const TEST = mnist("test.csv.gz")

/** A training spec with just what data preparation reads. */
const specOf = (samples: number, normalize: TrainingSpec["normalize"]) =>
  ({ samples, normalize, data: { source: "train" }, test: { source: "test" }, model: "softmax", features: 784, outputs: 10, hidden: 0, target: { kind: "multiclass", classes: 10 } }) as unknown as TrainingSpec

/** Dense random rows (no zeros: the gather path, not the sparse one) with a linear-ish regression label. */
const denseRegression = (rows: number, features: number, seed: number): Dataset => {
  const random = seededRandom(seed)
  const x = Float32Array.from({ length: rows * features }, () => 2 * random() - 1 || 0.5)
  const y = Float32Array.from({ length: rows }, (_, r) => 3 * (x[r * features] as number) - (x[r * features + 1] as number) + 0.1 * random())
  return { rows, features, x, y }
}

type Case = { name: string; kind: ModelKind; target: Target; hidden?: number; epochs: number; lr: number; train: Dataset; test: Dataset }

const prepared = (() => {
  const data = prepareTrainingData(specOf(TRAIN.rows, "max"), TRAIN, TEST)
  return { train: data.train, test: data.test as Dataset }
})()
const dense = { train: denseRegression(300, 6, 1), test: denseRegression(120, 6, 2) }

const CASES: ReadonlyArray<Case> = [
  { name: "softmax", kind: "softmax", target: { kind: "multiclass", classes: 10 }, epochs: 2, lr: 1, ...prepared },
  { name: "logreg binary_is_zero", kind: "logreg", target: { kind: "binary", positive: 0 }, epochs: 1, lr: 1, ...prepared },
  { name: "mlp", kind: "mlp", target: { kind: "multiclass", classes: 10 }, hidden: 16, epochs: 2, lr: 0.5, ...prepared },
  { name: "linreg regression (dense rows)", kind: "linreg", target: { kind: "regression" }, epochs: 3, lr: 0.05, ...dense }
]

const trained = (c: Case): { shape: ModelShape; params: Float32Array } => {
  const shape = shapeFor(c.kind, c.train.features, c.target, c.hidden ?? 0)
  const { params } = trainLocally({ shape, target: c.target, train: c.train, epochs: c.epochs, batchSize: 64, lr: c.lr, seed: 7, init: c.kind === "mlp" ? "random" : "zeros" })
  return { shape, params }
}

/** Batches of `size` over every row, joined back together. */
const inBatches = (shape: ModelShape, c: Case, params: Float32Array, size: number): BatchResult => {
  const classes = classesOfTarget(c.target)
  const predictions: number[] = []
  let correct = 0
  const confusion = classes === undefined ? [] : Array.from({ length: classes }, () => new Array<number>(classes).fill(0))
  for (let from = 0; from < c.test.rows; from += size) {
    const to = Math.min(c.test.rows, from + size)
    const batch = predictBatch(shape, c.target, params, c.test, from, to, true, classes)
    expect(batchResultProblem(batch, { from, to }, classes)).toBeUndefined()
    predictions.push(...batch.predictions)
    correct += batch.correct ?? 0
    batch.confusion?.forEach((row, t) => row.forEach((n, p) => (confusion[t]![p]! += n)))
  }
  return classes === undefined ? { predictions } : { predictions, correct, confusion }
}

describe("predictBatch and predictLocally agree with evaluate", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const { shape, params } = trained(c)
      const whole = predictLocally(shape, c.target, params, c.test, true)
      const reference = evaluate(shape, c.target, params, c.test)
      expect(whole.predictions).toHaveLength(c.test.rows)
      if (c.target.kind === "regression") {
        expect(whole.correct).toBeUndefined()
        expect(whole.confusion).toBeUndefined()
        // Mean squared loss from the predictions equals evaluate's.
        const loss = whole.predictions.reduce((sum, p, r) => sum + 0.5 * (p - (c.test.y[r] as number)) ** 2, 0) / c.test.rows
        expect(loss).toBeCloseTo(reference.loss, 10)
      } else {
        expect((whole.correct as number) / c.test.rows).toBe(reference.accuracy)
        expect(whole.confusion).toEqual(reference.confusion)
        // A trained model: well above chance, so the comparison means something.
        expect(reference.accuracy as number).toBeGreaterThan(c.target.kind === "binary" ? 0.9 : 0.6)
      }
      for (const row of [0, 1, 17, c.test.rows - 1]) expect(whole.predictions[row]).toBe(predict(shape, c.target, params, c.test, row))
      // Batches (ragged last one included) joined == one batch.
      expect(inBatches(shape, c, params, 37)).toEqual(whole)
      expect(inBatches(shape, c, params, 1)).toEqual(whole)
    })
  }
})

describe("predictBatch", () => {
  const c = CASES[0] as Case
  const { shape, params } = trained(c)

  it("without labels: predictions only", () => {
    const result = predictBatch(shape, c.target, params, c.test, 10, 20, false, 10)
    expect(Object.keys(result)).toEqual(["predictions"])
    expect(result.predictions).toEqual(predictLocally(shape, c.target, params, c.test, true).predictions.slice(10, 20))
  })

  it("an empty range is an empty batch", () => {
    expect(predictBatch(shape, c.target, params, c.test, 5, 5, true, 10)).toEqual({ predictions: [], correct: 0, confusion: Array.from({ length: 10 }, () => new Array(10).fill(0)) })
  })

  it("refuses rows outside the data, a wrong shape and a label that is no class", () => {
    expect(() => predictBatch(shape, c.target, params, c.test, 0, c.test.rows + 1, true, 10)).toThrow(/not within/)
    expect(() => predictBatch(shape, c.target, params, c.test, 3, 2, true, 10)).toThrow(/not within/)
    expect(() => predictBatch(shape, c.target, params.subarray(1), c.test, 0, 1, true, 10)).toThrow(/parameters/)
    expect(() => predictBatch(shape, c.target, params, c.test, 0, 1, true, 3)).toThrow(/classes/)
    const bad = { ...c.test, y: Float32Array.from(c.test.y, (v, r) => (r === 4 ? 12 : v)) }
    expect(() => predictBatch(shape, c.target, params, bad, 0, 10, true, 10)).toThrow("row 4: label 12 is not a class of 0..9")
    expect(predictBatch(shape, c.target, params, bad, 0, 10, false, 10).predictions).toHaveLength(10)
  })
})

/** Bit-for-bit equality of two float arrays (toEqual on a million entries is slow). */
const sameBytes = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

describe("prepareInferenceData", () => {
  it("scales rows as training scaled its test set", () => {
    const train = mnist("train.csv.gz")
    for (const normalize of ["max", "minmax", "zscore", "none"] as const) {
      const reference = prepareTrainingData(specOf(3000, normalize), train, TEST).test as Dataset
      const ours = prepareInferenceData({ trained: { samples: 3000, normalize }, data: { source: "test" } }, train, TEST)
      expect(sameBytes(ours.x, reference.x), normalize).toBe(true)
      expect(sameBytes(ours.y, reference.y), normalize).toBe(true)
    }
  })

  it("needs no training rows without normalization", () => {
    expect(prepareInferenceData({ trained: { samples: 1, normalize: "none" }, data: { source: "t" } }, undefined, TEST)).toBe(TEST)
    expect(() => prepareInferenceData({ trained: { samples: 1, normalize: "max" }, data: { source: "t" } }, undefined, TEST)).toThrow(/training rows/)
  })
})
