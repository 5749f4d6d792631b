// `dtq train k=v ...` and `dtq resume JOB k=v ...`: submit a training job; with --wait, follow its epochs
// and, when it ends, write its outputs (weights CSV/PNG, logs/*.csv) from the log's training projection.
import { trainRequestFromPairs, writtenKey } from "../domain/train-spec.ts"
import { BadSpec } from "../domain/errors.ts"
import { waitWithCoordinator } from "./coordinator-watch.ts"
import { jobOutputDir } from "./output-dir.ts"
import { decodeEvent } from "../domain/event-codec.ts"
import type { Client, Submitted } from "../producer/client.ts"
import { duration } from "../producer/format.ts"
import { eventTypeSubject } from "../nats/subjects.ts"
import { writeTrainingFiles } from "../reports/training-files.ts"
import type { WeightsShape } from "../reports/training-report.ts"
import type { JobView, TrainingView } from "../projections/views.ts"
import { UsageError, boolFlag, parseArgs, stringFlag, type Parsed } from "./args.ts"
import { withClient } from "./job-commands.ts"

const out = (text: string) => process.stdout.write(`${text}\n`)
const FLAGS = { wait: "boolean", json: "boolean", out: "string", "keep-waiting": "boolean" } as const

/** `k=v` words (also `a|b|c` in one word, the prompt's syntax) as pairs; anything else is a usage error. */
export const pairsOf = (words: ReadonlyArray<string>, command: string): Record<string, string> => {
  const pairs: Record<string, string> = {}
  for (const part of words.flatMap((w) => w.split("|")).map((w) => w.trim()).filter((w) => w !== "")) {
    const eq = part.indexOf("=")
    if (eq <= 0) throw new UsageError(`dtq ${command}: ${JSON.stringify(part)} is not key=value (e.g. model=softmax epochs=5)`)
    pairs[part.slice(0, eq)] = part.slice(eq + 1)
  }
  return pairs
}

/** `jobId=NAME` among the pairs: the job's user-chosen id (not a training option); the rest are options. */
export const chosenJobId = (pairs: Record<string, string>): { jobId?: string; pairs: Record<string, string> } => {
  const { jobId, ...rest } = pairs
  return jobId === undefined ? { pairs: rest } : { jobId, pairs: rest }
}

/** A BadSpec names the key as it was typed (`dataRef`, not `data`). */
export const asWritten = <T>(pairs: Record<string, string>, f: () => Promise<T>): Promise<T> =>
  f().catch((error: unknown) => {
    if (error instanceof BadSpec && error.field !== "") throw new BadSpec({ field: writtenKey(pairs, error.field), message: error.message })
    throw error
  })

export const trainCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("train", argv, FLAGS)
  const written = pairsOf(args.positional, "train")
  const { jobId, pairs } = chosenJobId(written)
  const request = trainRequestFromPairs(pairs)
  return withClient(args, (client) => asWritten(written, async () => finishSubmission(args, client, await client.train(request, jobId === undefined ? {} : { jobId }))))
}

export const resumeCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("resume", argv, FLAGS)
  const [named, ...rest] = args.positional
  if (named === undefined) throw new UsageError("dtq resume needs the job to start from: dtq resume JOB|LAST [jobId=NEW] [k=v ...]")
  const written = pairsOf(rest, "resume")
  const { jobId, pairs } = chosenJobId(written)
  const { kind: _kind, ...overrides } = trainRequestFromPairs(pairs)
  return withClient(args, (client) => asWritten(written, async () => {
    const from = named.toUpperCase() === "LAST" ? await client.lastTrainingJob() : named
    return finishSubmission(args, client, await client.resume(from, overrides, jobId === undefined ? {} : { jobId }))
  }))
}

const finishSubmission = async (args: Parsed, client: Client, submitted: Submitted): Promise<number> => {
  const asJson = boolFlag(args, "json")
  const { jobId, spec, existing } = submitted
  if (spec.kind === "train" && spec.samplesRequested !== undefined && !asJson) {
    process.stderr.write(`${jobId}: samples=${spec.samplesRequested} asks for more rows than ${spec.data.source} has; training on all ${spec.samples}\n`)
  }
  if (!boolFlag(args, "wait")) {
    if (asJson) out(JSON.stringify({ jobId, state: "submitted", ...(existing === true ? { existing: true } : {}) }))
    else out(existing === true ? `${jobId} was already submitted with this very spec; follow it with dtq job ${jobId} --wait` : `submitted ${jobId} (training); follow it with dtq job ${jobId} --wait`)
    return 0
  }
  return followTraining(client, jobId, { json: asJson, outDir: jobOutputDir(stringFlag(args, "out"), jobId), keepWaiting: boolFlag(args, "keep-waiting") })
}

/** Follows a training job to its end, printing each epoch; then writes its output files. Returns the exit code. */
export const followTraining = async (client: Client, jobId: string, options: { json: boolean; outDir: string; keepWaiting?: boolean; print?: (line: string) => void }): Promise<number> => {
  const print = options.print ?? ((line: string) => (options.json ? process.stderr.write(`${line}\n`) : out(line)))
  const epochs = client.nc.subscribe(eventTypeSubject("EpochCompleted", jobId), {
    callback: (_e, msg) => {
      const decoded = decodeEvent(msg.data)
      if (!decoded.ok || decoded.event.type !== "EpochCompleted") return
      const e = decoded.event
      print(`  epoch ${e.trainingEpoch}: loss ${e.loss.toFixed(4)}${e.trainAccuracy === null ? "" : ` train ${e.trainAccuracy.toFixed(4)}`}${e.testAccuracy == null ? "" : ` test ${e.testAccuracy.toFixed(4)}`} ${duration(e.ms)} ${Math.round(e.samplesPerSec)} samples/s`)
    }
  })
  try {
    const outcome = await waitWithCoordinator(client, jobId, client.wait(jobId), { keepWaiting: options.keepWaiting ?? false, note: (line) => process.stderr.write(`${line}\n`) })
    const view = await client.job(jobId)
    const training = view?.training
    const files = outcome.state === "completed" && view !== undefined ? await writeOutputs(client, view, options.outDir) : []
    const result = training === undefined ? outcome.result : trainingResult(training)
    if (options.json) out(JSON.stringify({ ...outcome, result, files }))
    else {
      print(outcome.state === "completed" ? `${jobId} completed in ${duration(outcome.durationMs)}: ${outcome.result}` : `${jobId} ${outcome.state}: ${outcome.reason ?? ""}`)
      if (files.length > 0) print(`wrote ${files.join(", ")}`)
    }
    return outcome.state === "completed" ? 0 : 1
  } finally {
    epochs.unsubscribe()
  }
}

/** What a finished training job's JSON `result` holds. */
export const trainingResult = (t: TrainingView): Record<string, unknown> | null => {
  const f = t.finished
  if (f === undefined) return null
  return {
    accuracy: f.testAccuracy ?? f.trainAccuracy,
    testAccuracy: f.testAccuracy ?? null,
    testLoss: f.testLoss ?? null,
    trainAccuracy: f.trainAccuracy,
    loss: f.loss,
    epochs: f.epochs,
    version: f.version,
    stoppedEarly: f.stoppedEarly,
    confusion: f.confusion ?? null,
    model: f.model
  }
}

/** Writes every training job's logs and this job's weights, all from the log's training projection. */
export const writeOutputs = async (client: Client, view: JobView, outDir: string): Promise<string[]> => {
  const report = (await client.trainingReport()).value
  const models = new Map<string, { spec: WeightsShape; weights: Float32Array }>()
  const model = view.training?.finished?.model
  if (model !== undefined && view.spec.kind === "train") {
    const { models: store } = await client.trainingStores()
    models.set(view.jobId, { spec: view.spec, weights: await store.get(model.name, model.digest) })
  }
  return writeTrainingFiles(report, outDir, models)
}
