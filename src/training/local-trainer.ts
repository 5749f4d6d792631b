// Single-process training: the reference the cluster must match. trainLocally runs exactly the
// batching of sync mode with one share (same epoch orders, same batches, one SGD step per batch), so
// the cluster with N shares takes mathematically the same steps. trainShardLocally is one worker's
// round of avg mode: plain mini-batch SGD over its shard.
import type { Dataset } from "../data/dataset.ts"
import { accumulateGradient, evaluate, initParameters, type Init, type ModelShape, type Target } from "./models.ts"
import { batchesPerEpoch, batchRows, epochOrder, mixSeeds } from "./sampling.ts"
import { sgdStep } from "./vectors.ts"

export type EpochMetrics = {
  /** 1-based. */
  readonly epoch: number
  /** Mean training loss over the epoch's rows, each measured at the parameters of its batch's step. */
  readonly loss: number
  /** Fraction of the epoch's rows predicted right at their step; null for regression. */
  readonly trainAccuracy: number | null
  readonly testLoss?: number
  readonly testAccuracy?: number | null
  /** Wall time of the epoch, test evaluation included. */
  readonly ms: number
}

export type LocalTrainingOptions = {
  readonly shape: ModelShape
  readonly target: Target
  readonly train: Dataset
  readonly test?: Dataset
  readonly epochs: number
  readonly batchSize: number
  readonly lr: number
  readonly seed: number
  /** A Float32Array is used as the starting parameters (copied, not modified). */
  readonly init: Init | Float32Array
  /** Learning-rate multiplier per epoch: epoch e (0-based) steps with lr * lrDecay^e. Default 1. */
  readonly lrDecay?: number
  readonly onEpoch?: (metrics: EpochMetrics) => void
  /** Where `ms` comes from; only measured, never part of the math. Default performance.now. */
  readonly clock?: () => number
}

export type LocalTrainingResult = { readonly params: Float32Array; readonly epochs: ReadonlyArray<EpochMetrics> }

/** The learning rate of epoch `epoch` (0-based). */
export const epochLearningRate = (lr: number, lrDecay: number, epoch: number): number => lr * lrDecay ** epoch

/** The starting parameters: a copy of given ones, or fresh ones from the seed. */
export const startingParameters = (shape: ModelShape, init: Init | Float32Array, seed: number): Float32Array =>
  init instanceof Float32Array ? init.slice() : initParameters(shape, init, seed)

export const trainLocally = (options: LocalTrainingOptions): LocalTrainingResult => {
  const { shape, target, train, test, epochs, batchSize, seed } = options
  const clock = options.clock ?? (() => performance.now())
  const params = startingParameters(shape, options.init, seed)
  const grad = new Float32Array(params.length)
  const history: Array<EpochMetrics> = []
  for (let epoch = 0; epoch < epochs; epoch++) {
    const started = clock()
    const lr = epochLearningRate(options.lr, options.lrDecay ?? 1, epoch)
    const order = epochOrder(train.rows, seed, epoch)
    const totals: PassTotals = { loss: 0, correct: 0, count: 0 }
    drain(sgdPass(shape, target, params, train, order, batchSize, lr, grad, totals))
    const { loss, correct, count } = totals
    const tested = test === undefined ? undefined : evaluate(shape, target, params, test)
    const metrics: EpochMetrics = {
      epoch: epoch + 1,
      loss: count === 0 ? 0 : loss / count,
      trainAccuracy: target.kind === "regression" ? null : count === 0 ? 0 : correct / count,
      ...(tested === undefined ? {} : { testLoss: tested.loss, testAccuracy: tested.accuracy }),
      ms: clock() - started
    }
    history.push(metrics)
    options.onEpoch?.(metrics)
  }
  return { params, epochs: history }
}

export type ShardTrainingOptions = {
  readonly shape: ModelShape
  readonly target: Target
  readonly train: Dataset
  /** The shard: which rows of `train` this worker trains on (e.g. from shardRows). */
  readonly rows: Int32Array
  /** Parameters at the start of the round (not modified). */
  readonly params: Float32Array
  readonly localEpochs: number
  readonly batchSize: number
  readonly lr: number
  readonly seed: number
  /** The averaging round: with the seed it fixes the shard's row orders. */
  readonly round: number
}

export type ShardTrainingResult = {
  readonly params: Float32Array
  /** Summed loss and correct predictions over every row visited, and the number of rows visited. */
  readonly loss: number
  readonly correct: number
  readonly count: number
}

/** One avg-mode round on one shard: `localEpochs` passes of mini-batch SGD, deterministic given seed and round. */
export const trainShardLocally = (options: ShardTrainingOptions): ShardTrainingResult => {
  const params = options.params.slice()
  const totals: PassTotals = { loss: 0, correct: 0, count: 0 }
  drain(shardSteps(options, params, totals))
  return { params, ...totals }
}

/**
 * The steps of an avg round, updating `params` in place and adding to `totals`; it yields after each
 * step, so a worker can let its heartbeats through during a long round.
 */
export function* shardSteps(options: Omit<ShardTrainingOptions, "params">, params: Float32Array, totals: PassTotals): Generator<void> {
  const { shape, target, train, rows, localEpochs, batchSize, lr } = options
  const grad = new Float32Array(params.length)
  const shuffled = new Int32Array(rows.length)
  const roundSeed = mixSeeds(options.seed, options.round)
  for (let epoch = 0; epoch < localEpochs; epoch++) {
    const order = epochOrder(rows.length, roundSeed, epoch)
    for (let i = 0; i < order.length; i++) shuffled[i] = rows[order[i]!]!
    yield* sgdPass(shape, target, params, train, shuffled, batchSize, lr, grad, totals)
  }
}

/** Loss and correct predictions summed over the rows an SGD pass visited, and how many it visited. */
export type PassTotals = { loss: number; correct: number; count: number }

/** One pass of mini-batch SGD over `order` (rows of `data`), one step per batch; yields after each step. */
export function* sgdPass(
  shape: ModelShape,
  target: Target,
  params: Float32Array,
  data: Dataset,
  order: Int32Array,
  batchSize: number,
  lr: number,
  grad: Float32Array,
  totals: PassTotals
): Generator<void> {
  const batches = batchesPerEpoch(order.length, batchSize)
  for (let batch = 0; batch < batches; batch++) {
    grad.fill(0)
    const sums = accumulateGradient(shape, target, params, data, batchRows(order, batch, batchSize), grad)
    sgdStep(params, grad, sums.count, lr)
    totals.loss += sums.loss
    totals.correct += sums.correct
    totals.count += sums.count
    yield
  }
}

/** Runs steps to the end. */
const drain = (steps: Iterator<void>): void => {
  while (steps.next().done !== true);
}
