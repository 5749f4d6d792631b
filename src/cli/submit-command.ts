// `dtq submit NAME --input JSON | --input-file FILE`: one user-defined task (or, with --batch, one per
// element of a JSON array). The input is checked against the task's Schema before it enters the log:
// by the task module itself (--tasks MODULE), or else by a live worker that runs the task.
import { readFileSync } from "node:fs"
import { checkTask } from "../producer/task-presence.ts"
import { BadSpec } from "../domain/errors.ts"
import { resolveSpec, taskNameProblem } from "../domain/job-spec.ts"
import { priorityWord } from "../domain/train-spec.ts"
import { taskRequest, type Client, type SubmitOptions } from "../producer/client.ts"
import { InvalidInput, JobCancelled, TaskFailed, TaskTimeout } from "../producer/errors.ts"
import { duration } from "../producer/format.ts"
import { awaitOutputs, watchJob, type JobWatch } from "../producer/task-jobs.ts"
import { decodeInput } from "../tasks/codec.ts"
import type { TaskDefaults } from "../tasks/define.ts"
import { loadTaskModule } from "../tasks/load.ts"
import { UsageError, boolFlag, intFlag, parseArgs, stringFlag, type Parsed } from "./args.ts"
import { numberField, withClient } from "./job-commands.ts"
import { waitWithCoordinator } from "./coordinator-watch.ts"

const out = (text: string) => process.stdout.write(`${text}\n`)
const note = (text: string) => process.stderr.write(`${text}\n`)

export const SUBMIT_USAGE = "dtq submit NAME --input JSON | --input-file FILE [--batch] [--wait] [--json] [--queue-unknown]"

export const submitCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("submit", argv, {
    input: "string",
    "input-file": "string",
    batch: "boolean",
    tasks: "string",
    wait: "boolean",
    json: "boolean",
    timeout: "string",
    priority: "string",
    "delay-ms": "string",
    "run-at": "string",
    "max-attempts": "string",
    "backoff-ms": "string",
    "timeout-ms": "string",
    name: "string",
    "job-id": "string",
    "queue-unknown": "boolean",
    "keep-waiting": "boolean"
  })
  const [task, ...extra] = args.positional
  if (task === undefined || extra.length > 0) throw new UsageError(`dtq submit needs one task name: ${SUBMIT_USAGE}`)
  const problem = taskNameProblem(task)
  if (problem !== undefined) throw new UsageError(problem)
  const inputs = readInputs(args)
  const options = submitOptions(args)
  const waitMs = intFlag(args, "timeout", 1, 7 * 86_400_000)
  if (waitMs !== undefined && !boolFlag(args, "wait")) throw new UsageError("--timeout applies to --wait (how long to wait for the result)")

  // Checked with the module's own Schema when given: refused before any connection (exit 2).
  let defaults: TaskDefaults = {}
  const module = stringFlag(args, "tasks")
  if (module !== undefined) {
    const tasks = await loadTaskModule(module)
    const loaded = tasks.get(task)
    if (loaded === undefined) throw new UsageError(`--tasks: ${module} defines no task ${task} (it defines: ${[...tasks.keys()].join(", ")})`)
    if (loaded.definition !== undefined) {
      inputs.forEach((input, i) => {
        const decoded = decodeInput(loaded.definition!, input)
        if (!decoded.ok) throw new InvalidInput(inputs.length === 1 ? decoded.error : `inputs[${i}]: ${decoded.error}`)
      })
      defaults = loaded.definition.defaults
    }
  }
  resolveSpec(taskRequest(task, inputs, { ...defaults, ...options })) // a bad option is refused before connecting

  return withClient(args, async (client) => {
    const queueUnknown = boolFlag(args, "queue-unknown")
    if (module === undefined) defaults = await checkWithWorker(client, task, inputs, queueUnknown)
    else if (!queueUnknown) await client.requireLiveTask(task)
    const asJson = boolFlag(args, "json")
    const chosen = stringFlag(args, "job-id")
    const jobId = chosen ?? client.newJobId()
    const watch = boolFlag(args, "wait") ? watchJob(client, jobId) : undefined
    const started = Date.now()
    try {
      await client.submitTasks(task, inputs, { ...defaults, ...options, jobId, queueUnknown: true }, chosen !== undefined) // checked above
    } catch (error) {
      watch?.stop()
      throw error
    }
    if (queueUnknown && (await checkTask(client.nc, task, [], 1000)).kind === "none") {
      note(`dtq: queued ${jobId}, but no live worker runs task ${task} yet: it waits for one (dtq job ${jobId} says what it waits for)`)
    }
    if (watch === undefined) {
      if (asJson) out(JSON.stringify({ jobId, state: "submitted", tasks: inputs.length }))
      else out(`submitted ${jobId} (task ${task} x ${inputs.length})`)
      return 0
    }
    return waitAndPrint(client, jobId, watch, args, inputs.length, waitMs, started)
  })
}

const waitAndPrint = async (
  client: Client,
  jobId: string,
  watch: JobWatch,
  args: Parsed,
  count: number,
  waitMs: number | undefined,
  started: number
): Promise<number> => {
  const asJson = boolFlag(args, "json")
  const single = !boolFlag(args, "batch")
  try {
    const waited = awaitOutputs(client, jobId, watch, waitMs === undefined ? {} : { timeout: waitMs }, false)
    const outputs = await waitWithCoordinator(client, jobId, waited, { keepWaiting: boolFlag(args, "keep-waiting"), note })
    const result = single ? outputs[0] : outputs
    const durationMs = Date.now() - started
    if (asJson) out(JSON.stringify({ jobId, state: "completed", result, tasks: count, durationMs }))
    else out(`${jobId} completed in ${duration(durationMs)}: ${JSON.stringify(result)}`)
    return 0
  } catch (error) {
    if (error instanceof TaskFailed) {
      if (asJson) out(JSON.stringify({ jobId, state: "failed", result: null, reason: error.error, retryable: error.retryable, attempts: error.attempts ?? null, task: error.index ?? null }))
      else out(`${jobId} failed${error.retryable ? ` after ${error.attempts} attempts` : " (not retryable)"}: ${error.error}`)
      return 1
    }
    if (error instanceof JobCancelled || error instanceof TaskTimeout) {
      if (asJson) out(JSON.stringify({ jobId, state: "cancelled", result: null, reason: error.message }))
      else out(error.message)
      return 1
    }
    throw error
  }
}

/** The inputs, in wire (JSON) form: one, or with --batch the elements of a JSON array. */
const readInputs = (args: Parsed): unknown[] => {
  const inline = stringFlag(args, "input")
  const file = stringFlag(args, "input-file")
  if ((inline === undefined) === (file === undefined)) throw new UsageError(`give the input with exactly one of --input JSON or --input-file FILE: ${SUBMIT_USAGE}`)
  let text: string
  let where: string
  if (file !== undefined) {
    where = `--input-file ${file}`
    try {
      text = readFileSync(file, "utf8")
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new UsageError(`${where}: ${code === "ENOENT" ? "no such file" : (error as Error).message}`)
    }
  } else {
    where = "--input"
    text = inline as string
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`${where}: not JSON (${(error as Error).message}); quote it for the shell: --input '{"key": "value"}'`)
  }
  if (!boolFlag(args, "batch")) return [value]
  if (!Array.isArray(value) || value.length === 0) throw new UsageError(`${where}: with --batch the input must be a JSON array of task inputs (one task each)`)
  return value
}

const submitOptions = (args: Parsed): SubmitOptions => {
  const num = (flag: string, field: string) => numberField(args, flag, field)
  const priority = stringFlag(args, "priority")
  const runAt = stringFlag(args, "run-at")
  let at: number | undefined
  if (runAt !== undefined) {
    at = /^\d+$/.test(runAt) ? Number(runAt) : Date.parse(runAt)
    if (!Number.isFinite(at)) throw new BadSpec({ field: "runAt", message: `${JSON.stringify(runAt)} is neither an ISO time nor ms since the epoch` })
  }
  return {
    ...num("max-attempts", "maxAttempts"),
    ...num("backoff-ms", "backoffMs"),
    ...num("timeout-ms", "timeoutMs"),
    ...num("delay-ms", "delayMs"),
    // An integer, or low | normal | high, or the Python runner's LOW | MEDIUM | HIGH (any case).
    ...(priority === undefined ? {} : { priority: priorityWord(priority) as number | "low" }),
    ...(at === undefined ? {} : { runAt: at }),
    ...(stringFlag(args, "name") === undefined ? {} : { name: stringFlag(args, "name") as string })
  }
}

/**
 * Asks one live worker that runs the task to check the inputs against its Schema; returns the task's
 * defaults. With no live worker that runs it the submission is refused (UnknownTask, exit 2) unless
 * `queueUnknown`; a worker that is there but slow to answer checks the input when it runs the task.
 */
const checkWithWorker = async (client: Client, task: string, inputs: unknown[], queueUnknown: boolean): Promise<TaskDefaults> => {
  const check = await checkTask(client.nc, task, inputs)
  if (check.kind === "none") {
    if (!queueUnknown) await client.requireLiveTask(task)
    return {}
  }
  if (check.kind === "silent") {
    note(`dtq: no worker that runs task ${task} answered the input check within 5 s; the worker that runs it checks the input then`)
    return {}
  }
  const reply = check.reply
  if (reply.ok === false) {
    const error = reply.error ?? "invalid"
    throw new InvalidInput(inputs.length === 1 || reply.index === undefined ? error : `inputs[${reply.index}]: ${error}`)
  }
  return (reply.defaults ?? {}) as TaskDefaults
}
