// The rows an inference job predicts, scaled as the model's training scaled its test set: by the
// normalizer fitted on the first `samples` training rows (src/training/job-data.ts).
import type { Dataset } from "../data/dataset.ts"
import { applyNormalizer, fitNormalizer, fittedOnRows } from "../data/normalize.ts"
import type { DataRef, TrainingSpec } from "../domain/train-spec.ts"
import { firstRows } from "../training/job-data.ts"

/** What scaling needs of an inference spec (an InferenceSpec fits). */
export type InferenceScaling = {
  readonly trained: Pick<TrainingSpec, "samples" | "normalize">
  readonly data: Pick<DataRef, "source">
}

/** Whether scaling needs the training rows at all (normalize=none and a fixed divisor do not). */
export const needsTrainingRows = (spec: InferenceScaling): boolean => fittedOnRows(spec.trained.normalize)

/** `rows` scaled for the model; `trainRows` is the model's whole training data set (its DataRef's rows). */
export const prepareInferenceData = (spec: InferenceScaling, trainRows: Dataset | undefined, rows: Dataset): Dataset => {
  if (spec.trained.normalize === "none") return rows
  if (typeof spec.trained.normalize === "number") return applyNormalizer(rows, fitNormalizer(rows, spec.trained.normalize), spec.data.source)
  if (trainRows === undefined) throw new RangeError(`normalize=${spec.trained.normalize} needs the model's training rows`)
  const normalizer = fitNormalizer(firstRows(trainRows, spec.trained.samples), spec.trained.normalize)
  return applyNormalizer(rows, normalizer, spec.data.source)
}
