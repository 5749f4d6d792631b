// `dtq infer k=v ...`, `dtq set-batch-size JOB N` and `dtq predictions JOB`: batch inference with a trained
// model, its batch size while it runs, and its stored predictions.
import { waitWithCoordinator } from "./coordinator-watch.ts"
import { writeFile } from "node:fs/promises"
import { inferRequestFromPairs } from "../domain/infer-spec.ts"
import type { Client } from "../producer/client.ts"
import { duration } from "../producer/format.ts"
import { UsageError, boolFlag, parseArgs, stringFlag } from "./args.ts"
import { withClient } from "./job-commands.ts"
import { chosenJobId, pairsOf } from "./train-command.ts"

const out = (text: string) => process.stdout.write(`${text}\n`)

export const inferCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("infer", argv, { wait: "boolean", json: "boolean", "keep-waiting": "boolean" })
  const { jobId: chosen, pairs } = chosenJobId(pairsOf(args.positional, "infer"))
  const request = inferRequestFromPairs(pairs)
  const asJson = boolFlag(args, "json")
  return withClient(args, async (client) => {
    const { jobId, spec } = await client.infer(request, chosen === undefined ? {} : { jobId: chosen })
    if (!boolFlag(args, "wait")) {
      if (asJson) out(JSON.stringify({ jobId, state: "submitted", tasks: spec.tasks }))
      else out(`submitted ${jobId} (inference in ${spec.tasks} batch${spec.tasks === 1 ? "" : "es"}); follow it with dtq job ${jobId}`)
      return 0
    }
    return followInference(client, jobId, asJson, boolFlag(args, "keep-waiting"))
  })
}

/** Waits for an inference job; prints its outcome (JSON: with accuracy, confusion and where the predictions are). */
export const followInference = async (client: Client, jobId: string, asJson: boolean, keepWaiting = false): Promise<number> => {
  const outcome = await waitWithCoordinator(client, jobId, client.wait(jobId), { keepWaiting, note: (line) => process.stderr.write(`${line}\n`) })
  const view = await client.job(jobId)
  const stored = view?.inference?.stored
  if (asJson) {
    out(JSON.stringify({
      ...outcome,
      ...(stored === undefined ? {} : { predictions: stored.predictions, accuracy: stored.accuracy ?? null, confusion: stored.confusion ?? null })
    }))
  } else if (outcome.state === "completed") out(`${jobId} completed in ${duration(outcome.durationMs)}: ${outcome.result}`)
  else out(`${jobId} ${outcome.state}: ${outcome.reason ?? ""}`)
  return outcome.state === "completed" ? 0 : 1
}

export const setBatchSizeCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("set-batch-size", argv, {})
  const [jobId, size] = args.positional
  const batchSize = Number(size)
  if (jobId === undefined || size === undefined || args.positional.length !== 2 || !Number.isInteger(batchSize)) {
    throw new UsageError("dtq set-batch-size needs a job and a whole number of rows: dtq set-batch-size JOB 500")
  }
  return withClient(args, async (client) => {
    await client.setBatchSize(jobId, batchSize)
    out(`asked ${jobId} for batches of ${batchSize} rows (from its next batch not yet leased)`)
    return 0
  })
}

export const predictionsCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("predictions", argv, { out: "string" })
  const [jobId] = args.positional
  if (jobId === undefined || args.positional.length !== 1) throw new UsageError("dtq predictions needs a job: dtq predictions JOB [--out FILE]")
  return withClient(args, async (client) => {
    const predictions = await client.predictions(jobId)
    const text = `prediction\n${predictions.join("\n")}\n`
    const file = stringFlag(args, "out")
    if (file === undefined) process.stdout.write(text)
    else {
      await writeFile(file, text)
      out(`wrote ${predictions.length} predictions to ${file}`)
    }
    return 0
  })
}
