// What a training job's spec makes of its data sets, identically on every worker and the coordinator:
// the first `samples` training rows, scaled by a normalizer fitted on them (and applied unchanged to the
// test set), and the model's shape and target.
import type { Dataset } from "../data/dataset.ts"
import { applyNormalizer, fitNormalizer } from "../data/normalize.ts"
import type { TrainingSpec } from "../domain/train-spec.ts"
import { shapeFor, type ModelShape, type Target } from "./models.ts"

export type TrainingData = {
  readonly train: Dataset
  readonly test: Dataset | undefined
  readonly shape: ModelShape
  readonly target: Target
}

export const targetOf = (spec: TrainingSpec): Target =>
  spec.target.kind === "multiclass" ? { kind: "multiclass", classes: spec.outputs } : spec.target

export const shapeOf = (spec: TrainingSpec): ModelShape => shapeFor(spec.model, spec.features, targetOf(spec), spec.hidden)

export const firstRows = (data: Dataset, rows: number): Dataset =>
  rows >= data.rows ? data : { rows, features: data.features, x: data.x.subarray(0, rows * data.features), y: data.y.subarray(0, rows) }

export const prepareTrainingData = (spec: TrainingSpec, train: Dataset, test: Dataset | undefined): TrainingData => {
  const used = firstRows(train, spec.samples)
  const normalizer = fitNormalizer(used, spec.normalize)
  return {
    train: spec.normalize === "none" ? used : applyNormalizer(used, normalizer, spec.data.source),
    test: test === undefined ? undefined : spec.normalize === "none" ? test : applyNormalizer(test, normalizer, spec.test?.source ?? "the test set"),
    shape: shapeOf(spec),
    target: targetOf(spec)
  }
}
