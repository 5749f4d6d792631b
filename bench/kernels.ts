// Rows per second of the training kernels in one process (no NATS): accumulateGradient over
// mini-batches and evaluate, for each model on the MNIST subset (pixels scaled to [0, 1]).
// The cluster's overhead is measured against these numbers.
//   node bench/kernels.ts [--data data/mnist] [--batch 128] [--hidden 128] [--seconds 1]
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { parseCsv } from "../src/data/csv.ts"
import type { Dataset } from "../src/data/dataset.ts"
import { accumulateGradient, evaluate, initParameters, shapeFor, type ModelKind, type Target } from "../src/training/models.ts"
import { batchesPerEpoch, batchRows, epochOrder } from "../src/training/sampling.ts"

const { values } = parseArgs({
  options: {
    data: { type: "string", default: "data/mnist" },
    batch: { type: "string", default: "128" },
    hidden: { type: "string", default: "128" },
    seconds: { type: "string", default: "1" }
  }
})
const batchSize = Number(values.batch)
const hidden = Number(values.hidden)
const seconds = Number(values.seconds)

const load = (file: string): Dataset => {
  const data = parseCsv(readFileSync(join(values.data, file)), { source: file, label: "first", hasHeader: false })
  const x = data.x.slice()
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) / 255
  return { ...data, x }
}
const train = load("train.csv.gz")
const test = load("test.csv.gz")
let zeros = 0
for (const v of train.x) if (v === 0) zeros++
console.log(`data: ${train.rows} train / ${test.rows} test rows, ${train.features} features, ${((100 * zeros) / train.x.length).toFixed(1)} % zeros`)

/** Repeats `pass` (which handles `rows` rows) for about `seconds` after a warm-up; rows per second. */
const rate = (rows: number, pass: () => void): number => {
  pass()
  let done = 0
  const started = performance.now()
  while (performance.now() - started < seconds * 1000) {
    pass()
    done += rows
  }
  return Math.round((done / (performance.now() - started)) * 1000)
}

const models: ReadonlyArray<{ kind: ModelKind; target: Target; hidden?: number }> = [
  { kind: "linreg", target: { kind: "regression" } },
  { kind: "logreg", target: { kind: "binary", positive: 0 } },
  { kind: "softmax", target: { kind: "multiclass", classes: 10 } },
  { kind: "mlp", target: { kind: "multiclass", classes: 10 }, hidden }
]
const order = epochOrder(train.rows, 1, 0)
const batches = batchesPerEpoch(train.rows, batchSize)
for (const model of models) {
  const shape = shapeFor(model.kind, train.features, model.target, model.hidden ?? 0)
  const params = initParameters(shape, "random", 1)
  const grad = new Float32Array(params.length)
  const gradientRate = rate(train.rows, () => {
    for (let batch = 0; batch < batches; batch++) {
      grad.fill(0)
      accumulateGradient(shape, model.target, params, train, batchRows(order, batch, batchSize), grad)
    }
  })
  const evaluateRate = rate(test.rows, () => evaluate(shape, model.target, params, test))
  const name = model.kind === "mlp" ? `mlp (hidden ${hidden})` : model.kind
  console.log(`RESULT ${name}: accumulateGradient ${gradientRate} rows/s (batch ${batchSize}), evaluate ${evaluateRate} rows/s`)
}
