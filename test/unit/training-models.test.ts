import { describe, expect, it } from "vitest"
import type { Dataset } from "../../src/data/dataset.ts"
import { trainLocally, trainShardLocally } from "../../src/training/local-trainer.ts"
import {
  accumulateGradient,
  addInto,
  evaluate,
  initParameters,
  layoutOf,
  parameterCount,
  predict,
  scaleInto,
  sgdStep,
  shapeFor,
  subtract,
  type ModelKind,
  type ModelShape,
  type Target
} from "../../src/training/models.ts"
import { batchRows, epochOrder, seededRandom, shardRows, shareSlice } from "../../src/training/sampling.ts"

/** Random rows with `zeros` of the inputs exactly 0 (so both the sparse and the dense path run). */
const randomData = (rows: number, features: number, labels: (random: () => number) => number, seed: number, zeros = 0.3): Dataset => {
  const random = seededRandom(seed)
  const x = new Float32Array(rows * features)
  for (let i = 0; i < x.length; i++) x[i] = random() < zeros ? 0 : 2 * random() - 1
  const y = Float32Array.from({ length: rows }, () => labels(random))
  return { rows, features, x, y }
}

const allRows = (data: Dataset) => Int32Array.from({ length: data.rows }, (_, i) => i)

type Case = { kind: ModelKind; target: Target; hidden?: number; labels: (random: () => number) => number }
const CASES: ReadonlyArray<Case> = [
  { kind: "linreg", target: { kind: "regression" }, labels: (r) => 3 * r() - 1 },
  { kind: "logreg", target: { kind: "binary", positive: 2 }, labels: (r) => Math.floor(r() * 3) },
  { kind: "softmax", target: { kind: "multiclass", classes: 3 }, labels: (r) => Math.floor(r() * 3) },
  { kind: "mlp", target: { kind: "multiclass", classes: 3 }, hidden: 6, labels: (r) => Math.floor(r() * 3) }
]

const setup = (c: Case, rows = 12, features = 5, seed = 1) => {
  const shape = shapeFor(c.kind, features, c.target, c.hidden ?? 0)
  const data = randomData(rows, features, c.labels, seed)
  const params = initParameters(shape, "random", seed)
  // Non-zero biases, so their gradients are checked at a generic point too.
  const layout = layoutOf(shape)
  const random = seededRandom(seed + 100)
  for (let i = layout.b1; i < layout.w2; i++) params[i] = 0.2 * random() + (c.kind === "mlp" ? 0.1 : -0.1)
  for (let i = layout.b2; i < layout.size && c.kind === "mlp"; i++) params[i] = 0.2 * random() - 0.1
  return { shape, data, params }
}

const lossAt = (shape: ModelShape, target: Target, params: Float32Array, data: Dataset): number =>
  accumulateGradient(shape, target, params, data, allRows(data), new Float32Array(params.length)).loss

describe("parameter layout", () => {
  it("counts weights and biases of each kind", () => {
    expect(parameterCount(shapeFor("linreg", 784, { kind: "regression" }))).toBe(785)
    expect(parameterCount(shapeFor("logreg", 784, { kind: "binary", positive: 0 }))).toBe(785)
    expect(parameterCount(shapeFor("softmax", 784, { kind: "multiclass", classes: 10 }))).toBe(7850)
    const mlp = shapeFor("mlp", 784, { kind: "multiclass", classes: 10 }, 64)
    expect(parameterCount(mlp)).toBe(784 * 64 + 64 + 64 * 10 + 10)
    expect(layoutOf(mlp)).toEqual({ w1: 0, b1: 784 * 64, w2: 784 * 64 + 64, b2: 784 * 64 + 64 + 640, size: 784 * 64 + 64 + 650 })
  })

  it("refuses a shape that does not fit the target", () => {
    expect(() => shapeFor("softmax", 4, { kind: "binary", positive: 1 })).toThrow(RangeError)
    expect(() => shapeFor("mlp", 4, { kind: "multiclass", classes: 3 }, 0)).toThrow(RangeError)
    expect(() => shapeFor("softmax", 4, { kind: "multiclass", classes: 1 })).toThrow(RangeError)
  })

  it("random init is seeded, scaled and has zero biases", () => {
    const shape = shapeFor("mlp", 100, { kind: "multiclass", classes: 10 }, 20)
    const a = initParameters(shape, "random", 9)
    expect(initParameters(shape, "random", 9)).toEqual(a)
    expect(initParameters(shape, "random", 10)).not.toEqual(a)
    const layout = layoutOf(shape)
    const w1 = a.subarray(layout.w1, layout.b1)
    expect(Math.max(...w1.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 100))
    expect(Math.max(...w1.map(Math.abs))).toBeGreaterThan(0.9 * Math.sqrt(6 / 100))
    expect(Array.from(a.subarray(layout.b1, layout.w2))).toEqual(new Array(20).fill(0))
    expect(initParameters(shape, "zeros", 9).every((v) => v === 0)).toBe(true)
  })
})

describe("accumulateGradient", () => {
  for (const c of CASES) {
    it(`${c.kind}: matches finite differences of the summed loss`, () => {
      const { shape, data, params } = setup(c)
      const grad = new Float32Array(params.length)
      accumulateGradient(shape, c.target, params, data, allRows(data), grad)
      for (let i = 0; i < params.length; i++) {
        const plus = params.slice()
        const minus = params.slice()
        plus[i] = (params[i] as number) + 1e-3
        minus[i] = (params[i] as number) - 1e-3
        // The step actually taken after rounding to Float32.
        const step = (plus[i] as number) - (minus[i] as number)
        const numeric = (lossAt(shape, c.target, plus, data) - lossAt(shape, c.target, minus, data)) / step
        expect(Math.abs((grad[i] as number) - numeric), `parameter ${i}: ${grad[i]} vs ${numeric}`).toBeLessThan(2e-3 * (1 + Math.abs(numeric)))
      }
    })
  }

  it("adds into the gradient rather than overwriting it, and counts rows", () => {
    const c = CASES[2] as Case
    const { shape, data, params } = setup(c)
    const once = new Float32Array(params.length)
    const sums = accumulateGradient(shape, c.target, params, data, allRows(data), once)
    const twice = once.slice()
    accumulateGradient(shape, c.target, params, data, allRows(data), twice)
    for (let i = 0; i < once.length; i++) expect(twice[i]).toBeCloseTo(2 * (once[i] as number), 5)
    expect(sums.count).toBe(data.rows)
    expect(accumulateGradient(shape, c.target, params, data, new Int32Array(0), new Float32Array(params.length))).toEqual({ loss: 0, correct: 0, count: 0 })
  })

  for (const c of CASES) {
    it(`${c.kind}: the shares' gradient sums add up to the whole batch's`, () => {
      const { shape, data, params } = setup(c, 40)
      const batch = batchRows(epochOrder(data.rows, 3, 0), 0, 29)
      const whole = new Float32Array(params.length)
      const wholeSums = accumulateGradient(shape, c.target, params, data, batch, whole)
      const added = new Float32Array(params.length)
      let loss = 0
      let correct = 0
      let count = 0
      for (let share = 0; share < 4; share++) {
        const part = new Float32Array(params.length)
        const sums = accumulateGradient(shape, c.target, params, data, shareSlice(batch, share, 4), part)
        addInto(added, part)
        loss += sums.loss
        correct += sums.correct
        count += sums.count
      }
      expect(count).toBe(wholeSums.count)
      expect(correct).toBe(wholeSums.correct)
      expect(loss).toBeCloseTo(wholeSums.loss, 9)
      for (let i = 0; i < whole.length; i++) expect(Math.abs((added[i] as number) - (whole[i] as number))).toBeLessThan(1e-5 * (1 + Math.abs(whole[i] as number)))
    })
  }

  it("gives bit-identical gradients on the sparse and the dense path", () => {
    // Mostly-zero rows get a precomputed sparse copy; the same rows inside a dense data set are gathered one by one.
    const c = CASES[3] as Case
    const { shape, data: sparse, params } = setup({ ...c }, 10, 5, 4)
    const sparseData = { ...sparse, x: sparse.x.map((v, i) => (i % 3 === 0 ? v : 0)) }
    const dense = randomData(40, 5, c.labels, 5, 0)
    const x = new Float32Array(50 * 5)
    x.set(sparseData.x)
    x.set(dense.x, 10 * 5)
    const y = new Float32Array(50)
    y.set(sparseData.y)
    y.set(dense.y, 10)
    const mixed: Dataset = { rows: 50, features: 5, x, y }
    const rows = Int32Array.from({ length: 10 }, (_, i) => i)
    const a = new Float32Array(params.length)
    const b = new Float32Array(params.length)
    expect(accumulateGradient(shape, c.target, params, sparseData, rows, a)).toEqual(accumulateGradient(shape, c.target, params, mixed, rows, b))
    expect(b).toEqual(a)
  })

  it("refuses rows outside the data and labels outside the classes", () => {
    const c = CASES[2] as Case
    const { shape, data, params } = setup(c)
    expect(() => accumulateGradient(shape, c.target, params, data, Int32Array.of(data.rows), new Float32Array(params.length))).toThrow(RangeError)
    const bad = { ...data, y: data.y.map(() => 3) }
    expect(() => accumulateGradient(shape, c.target, params, bad, Int32Array.of(0), new Float32Array(params.length))).toThrow(RangeError)
  })
})

describe("evaluate and predict", () => {
  // Three features, three classes; the model picks the largest feature (W = identity, no bias).
  const target: Target = { kind: "multiclass", classes: 3 }
  const shape = shapeFor("softmax", 3, target)
  const params = new Float32Array(parameterCount(shape))
  for (let j = 0; j < 3; j++) params[j * 3 + j] = 1
  const rows: Array<[number[], number]> = [
    [[1, 0, 0], 0],
    [[0, 2, 0], 1],
    [[0, 0, 3], 2],
    [[0, 5, 0], 0], // a 0 predicted as 1
    [[0, 0, 1], 1] // a 1 predicted as 2
  ]
  const data: Dataset = { rows: rows.length, features: 3, x: Float32Array.from(rows.flatMap(([x]) => x)), y: Float32Array.from(rows.map(([, y]) => y)) }

  it("softmax: accuracy, confusion[true][predicted] and mean cross-entropy", () => {
    const result = evaluate(shape, target, params, data)
    expect(result.rows).toBe(5)
    expect(result.accuracy).toBeCloseTo(3 / 5, 12)
    expect(result.confusion).toEqual([
      [1, 1, 0],
      [0, 1, 1],
      [0, 0, 1]
    ])
    const crossEntropy = (logits: number[], label: number) => Math.log(logits.reduce((s, z) => s + Math.exp(z), 0)) - (logits[label] as number)
    const expected = rows.reduce((s, [x, y]) => s + crossEntropy(x, y), 0) / rows.length
    expect(result.loss).toBeCloseTo(expected, 6)
    expect(rows.map((_, r) => predict(shape, target, params, data, r))).toEqual([0, 1, 2, 1, 2])
  })

  it("logreg: a 2 x 2 confusion matrix of the one-vs-rest labels", () => {
    const binary: Target = { kind: "binary", positive: 7 }
    const logreg = shapeFor("logreg", 1, binary)
    const w = Float32Array.of(1, -0.5) // predicts 1 when x > 0.5
    const points: Dataset = { rows: 4, features: 1, x: Float32Array.of(0, 1, 1, 0.2), y: Float32Array.of(3, 7, 2, 7) }
    const result = evaluate(logreg, binary, w, points)
    expect(result.confusion).toEqual([
      [1, 1],
      [1, 1]
    ])
    expect(result.accuracy).toBe(0.5)
    const z = [-0.5, 0.5, 0.5, -0.3]
    const t = [0, 1, 0, 1]
    const logLoss = z.reduce((s, zi, i) => s + Math.log(1 + Math.exp(zi)) - (t[i] as number) * zi, 0) / 4
    expect(result.loss).toBeCloseTo(logLoss, 6)
    expect(predict(logreg, binary, w, points, 1)).toBe(1)
  })

  it("linreg: mean squared loss, no accuracy or confusion", () => {
    const regression: Target = { kind: "regression" }
    const linreg = shapeFor("linreg", 2, regression)
    const w = Float32Array.of(2, -1, 0.5)
    const points: Dataset = { rows: 2, features: 2, x: Float32Array.of(1, 1, 0, 2), y: Float32Array.of(1.5, 0) }
    const result = evaluate(linreg, regression, w, points)
    expect(result).toEqual({ loss: (0 + 0.5 * 1.5 * 1.5) / 2, accuracy: null, confusion: [], rows: 2 })
    expect(predict(linreg, regression, w, points, 1)).toBeCloseTo(-1.5, 6)
  })
})

describe("vectors", () => {
  it("sgdStep divides the gradient sum by the row count", () => {
    const params = Float32Array.of(1, 2)
    sgdStep(params, Float32Array.of(4, -8), 4, 0.5)
    expect(Array.from(params)).toEqual([0.5, 3])
    sgdStep(params, Float32Array.of(4, -8), 0, 0.5)
    expect(Array.from(params)).toEqual([0.5, 3])
  })

  it("addInto, scaleInto and subtract", () => {
    const a = Float32Array.of(1, 2, 3)
    expect(Array.from(addInto(a, Float32Array.of(1, 1, 1)))).toEqual([2, 3, 4])
    expect(Array.from(scaleInto(a, 0.5))).toEqual([1, 1.5, 2])
    expect(Array.from(subtract(a, Float32Array.of(1, 1, 1)))).toEqual([0, 0.5, 1])
    expect(Array.from(a)).toEqual([1, 1.5, 2])
    expect(() => addInto(a, Float32Array.of(1))).toThrow(RangeError)
  })
})

/** Separable synthetic data: class c sits around centre c, with features of mixed sign and zeros. */
const blobs = (rows: number, classes: number, seed: number): Dataset => {
  const random = seededRandom(seed)
  const features = 4
  const x = new Float32Array(rows * features)
  const y = new Float32Array(rows)
  for (let r = 0; r < rows; r++) {
    const c = r % classes
    y[r] = c
    for (let j = 0; j < features; j++) x[r * features + j] = (j === c % features ? 2 : 0) + 0.4 * (random() - 0.5)
  }
  return { rows, features, x, y }
}

describe("training", () => {
  const options = { epochs: 15, batchSize: 16, lr: 0.5, seed: 3, init: "random" as const }

  it("softmax and mlp separate blobs; logreg finds one class; linreg fits a plane", () => {
    const train = blobs(240, 4, 1)
    const test = blobs(80, 4, 2)
    const multiclass: Target = { kind: "multiclass", classes: 4 }
    for (const kind of ["softmax", "mlp"] as const) {
      const result = trainLocally({ ...options, shape: shapeFor(kind, 4, multiclass, 8), target: multiclass, train, test })
      expect(result.epochs.at(-1)?.testAccuracy, kind).toBe(1)
    }
    const binary: Target = { kind: "binary", positive: 2 }
    const logreg = trainLocally({ ...options, shape: shapeFor("logreg", 4, binary), target: binary, train, test, init: "zeros" })
    expect(logreg.epochs.at(-1)?.testAccuracy).toBe(1)
    expect(logreg.epochs.at(-1)?.loss).toBeLessThan(logreg.epochs[0]?.loss as number)

    const plane: Dataset = { ...train, y: train.y.map((_, r) => 2 * (train.x[r * 4] as number) - (train.x[r * 4 + 1] as number) + 0.5) }
    const regression: Target = { kind: "regression" }
    const linreg = trainLocally({ ...options, epochs: 40, lr: 0.2, shape: shapeFor("linreg", 4, regression), target: regression, train: plane })
    expect(Array.from(linreg.params).map((w) => Math.round(w * 100) / 100 + 0)).toEqual([2, -1, 0, 0, 0.5]) // + 0 turns -0 into 0
    expect(linreg.epochs.at(-1)?.trainAccuracy).toBeNull()
  })

  it("is deterministic: the same seed gives bit-identical parameters", () => {
    const train = blobs(100, 3, 1)
    const target: Target = { kind: "multiclass", classes: 3 }
    const shape = shapeFor("mlp", 4, target, 5)
    const run = (seed: number) => trainLocally({ ...options, epochs: 3, shape, target, train, seed }).params
    expect(run(3)).toEqual(run(3))
    expect(run(4)).not.toEqual(run(3))
  })

  it("reports one metrics row per epoch, through onEpoch too, and applies lrDecay", () => {
    const train = blobs(50, 2, 1)
    const target: Target = { kind: "binary", positive: 1 }
    const shape = shapeFor("logreg", 4, target)
    const seen: number[] = []
    let tick = 0
    const result = trainLocally({ ...options, epochs: 3, shape, target, train, onEpoch: (m) => seen.push(m.epoch), clock: () => (tick += 5) })
    expect(seen).toEqual([1, 2, 3])
    expect(result.epochs.map((m) => m.ms)).toEqual([5, 5, 5])
    expect(result.epochs[0]?.testAccuracy).toBeUndefined()
    // lrDecay 0: every epoch after the first takes zero-length steps.
    const frozen = trainLocally({ ...options, epochs: 3, shape, target, train, lrDecay: 0 })
    const first = trainLocally({ ...options, epochs: 1, shape, target, train })
    expect(frozen.params).toEqual(first.params)
  })

  it("starts from given parameters without modifying them", () => {
    const train = blobs(40, 2, 1)
    const target: Target = { kind: "binary", positive: 1 }
    const shape = shapeFor("logreg", 4, target)
    const start = Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5)
    const result = trainLocally({ ...options, epochs: 1, shape, target, train, init: start })
    expect(Array.from(start)).toEqual(Array.from(Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5)))
    expect(result.params).not.toEqual(start)
  })

  it("trainShardLocally: deterministic per (seed, round), learns on its shard, leaves the start alone", () => {
    const train = blobs(120, 3, 1)
    const target: Target = { kind: "multiclass", classes: 3 }
    const shape = shapeFor("softmax", 4, target)
    const params = initParameters(shape, "zeros", 0)
    const shard = { shape, target, train, rows: shardRows(train.rows, 1, 0, 2), params, localEpochs: 3, batchSize: 8, lr: 0.5, seed: 1 }
    const a = trainShardLocally({ ...shard, round: 0 })
    expect(trainShardLocally({ ...shard, round: 0 }).params).toEqual(a.params)
    expect(trainShardLocally({ ...shard, round: 1 }).params).not.toEqual(a.params)
    expect(params.every((v) => v === 0)).toBe(true)
    expect(a.count).toBe(3 * 60)
    expect(evaluate(shape, target, a.params, train).accuracy).toBe(1)
  })
})
