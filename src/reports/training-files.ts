// Writes a training report to disk: per-job epoch logs, the job summaries and the speed-up table under
// `logs/`, and each trained model's weights (CSV, plus a picture for 28x28-pixel inputs). The only file
// system edge of the reports; everything it writes is computed by the pure modules beside it.
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { encodeRgbPng, weightsImage } from "./png.ts"
import { epochsCsv, jobSummariesCsv, speedupCsv, weightsCsv, type TrainingReport, type WeightsShape } from "./training-report.ts"

// Readers of weights files (`train init=weights wFile=...`) find the parser beside the writer.
export { parseWeightsCsv } from "./training-report.ts"

export type TrainedModel = { readonly spec: WeightsShape; readonly weights: Float32Array }

/** MNIST-sized inputs get a picture of their weights. */
const IMAGE_FEATURES = 784

/** Job ids become file names: only the subject-safe ids the log accepts (a reply over NATS is not trusted). */
const safeId = (jobId: string): string => {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) throw new Error(`job id ${JSON.stringify(jobId)} cannot name a file`)
  return jobId
}

/** Writes the files (creating the directories) and returns their paths, sorted. */
export const writeTrainingFiles = async (report: TrainingReport, outDir: string, models: ReadonlyMap<string, TrainedModel>): Promise<string[]> => {
  const logs = join(outDir, "logs")
  // Everything is computed (and every id checked) before the first write.
  const files: Array<[string, string | Uint8Array]> = [
    [join(logs, "job_summaries.csv"), jobSummariesCsv(report)],
    [join(logs, "speedup.csv"), speedupCsv(report)]
  ]
  for (const job of report.jobs) files.push([join(logs, `${safeId(job.jobId)}_epochs.csv`), epochsCsv(job)])
  for (const [jobId, model] of models) {
    files.push([join(outDir, `weights_${safeId(jobId)}.csv`), weightsCsv(model.spec, model.weights)])
    if (model.spec.features === IMAGE_FEATURES) {
      const image = weightsImage(model.spec, model.weights)
      files.push([join(outDir, `weights_${jobId}.png`), encodeRgbPng(image.width, image.height, image.rgb)])
    }
  }
  await mkdir(logs, { recursive: true })
  for (const [path, content] of files) await writeFile(path, content)
  return files.map(([path]) => path).sort()
}
