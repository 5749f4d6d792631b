#!/usr/bin/env node
// The `dtq` command: dispatch and exit codes (0 done, 1 job failed or cancelled, 2 bad usage or spec,
// 3 the cluster cannot be reached). Errors are one line on stderr, never a stack trace.
import { realpathSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { BadSpec } from "../domain/errors.ts"
import { ClusterUnreachable, CredentialsUnusable, LocalServerError, StreamSetupError } from "../nats/errors.ts"
import { redact } from "../nats/credentials.ts"
import { DuplicateWorker } from "../worker/worker.ts"
import { UsageError } from "./args.ts"
import { demoCommand } from "./demo.ts"
import { eventsCommand } from "./events-command.ts"
import {
  cancelCommand,
  chatCommand,
  compactCommand,
  infoCommand,
  jobCommand,
  jobsCommand,
  rangeCommand,
  replayCommand,
  workersCommand
} from "./job-commands.ts"
import { promptCommand } from "./prompt-command.ts"
import { coordinatorCommand, workerCommand } from "./roles.ts"
import { upCommand } from "./up.ts"
import { secureConfigCommand } from "./secure-config.ts"
import { NoCoordinator } from "./coordinator-watch.ts"
import { errorsCommand, retryCommand } from "./failed-jobs-commands.ts"
import { submitCommand } from "./submit-command.ts"
import { resumeCommand, trainCommand } from "./train-command.ts"
import { inferCommand, predictionsCommand, setBatchSizeCommand } from "./infer-command.ts"
import { plotCommand } from "./plot-command.ts"
import { InvalidInput, UnknownTask } from "../producer/errors.ts"
import { TaskModuleError } from "../tasks/load.ts"

export const HELP = `dtq: a distributed task and compute cluster on NATS JetStream

cluster
  dtq up [--workers N] [--slots S] [--port P] [--store DIR]   a local cluster in the foreground (Ctrl-C stops it);
                                                              a crashed coordinator or worker is restarted (backoff)
         [--tasks MODULE]                                     workers load user-defined tasks from MODULE
         [--nats-cluster 3] [--standbys K]                    three nats-servers (R3 streams), standby coordinators
         [--secure [--secure-dir DIR]]                        with per-role credentials and permissions (docs/security.md)
  dtq secure-config --out DIR [--workers N | --worker-ids A,B] [--port P] [--force]
                                                              a nats-server configuration and an nkey per role and worker
  dtq coordinator [--id ID] [--worker-timeout-ms MS]          the coordinator role (a second one stands by)
                  [--lease-ttl-ms MS] [--snapshot-every N] [--no-snapshots] [--replicas N]
                  [--sharing fair|fifo]                       jobs of one priority share workers fairly (default) or FIFO
                  [--retain-ms MS] [--retain-jobs N]          finished jobs kept 1 day, at most 1,000 (defaults)
                  [--max-stream-bytes B] [--max-stream-msgs N] stream limits (discard new); default none
                  [--compact-keep-events N] [--no-compaction] automatic compaction behind snapshots (default 1,000,000)
  dtq worker [--id ID] [--slots N] [--prefetch N] [--tasks MODULE] [--offline-exit-ms MS]
             fault injection, each a probability per task: --fail-rate P (retryable),
             --fatal-rate P (non-retryable), --reject-rate P, --delay-rate P with --delay-ms MS
             test aid: --clock-offset-ms MS (or DTQ_CLOCK_OFFSET_MS) shifts its wall clock, e.g. -30000
jobs
  dtq sum A B [--tasks N] [--wait] [--json]                   exact sum of the integers A..B
  dtq sumsq A B [--tasks N] [--wait] [--json]                 exact sum of their squares
      also: --max-attempts N --backoff-ms MS --lease-ms MS --stall-ms MS --max-task-ms MS
            --no-speculation --placement least-loaded|random|round-robin --name TEXT
  dtq submit NAME --input JSON | --input-file FILE [--batch]  a user-defined task (--batch: a JSON array, a task each)
      [--wait [--timeout MS]] [--json] [--tasks MODULE]        --tasks checks the input with the module's own Schema
      [--queue-unknown]                                        queue it even when no live worker runs NAME (else refused)
      [--priority low|normal|high|N] [--delay-ms MS | --run-at ISO] [--max-attempts N] [--backoff-ms MS] [--timeout-ms MS]
  dtq train k=v ... [--wait] [--json] [--out DIR]              distributed training (keys: docs/training.md), e.g.
      model=softmax|logreg|linreg|mlp task=multiclass|binary_is_zero mode=sync|async|avg workers=2 epochs=5
      batchSize=128 lr=0.5 seed=42 data=FILE|OBJECT test=FILE|OBJECT samples=N hidden=64 patience=3 ...
  dtq resume JOB k=v ... [--wait] [--json] [--out DIR]         a new training job warm-started from JOB's weights
  dtq infer model=JOB [data=FILE|OBJECT] [batchSize=N] [share=W] [labels=first|last|none] [--wait] [--json]
                                                               batch inference with a finished training job's model
  dtq set-batch-size JOB N | dtq predictions JOB [--out FILE]  a running inference job's batch size; its predictions
  dtq jobs [--state queued|running|completed|failed|cancelled] [--kind K] [--name TEXT] [--since 2h|ISO]
  dtq job ID [--wait] | dtq workers [--verbose] | dtq cancel ID
  dtq retry JOB [--wait] [--json]                              a new job with a failed/cancelled job's spec, linked to it
  dtq errors [JOB] [--json]                                    distinct task errors with counts and the attempts that hit them
      a --wait with no coordinator answering stops after 5 s (exit 3) and says how to start one; --keep-waiting waits on
  dtq producer                                                 the interactive prompt (try: help)
  dtq chat TEXT                                                a message every producer and worker prints
the log
  dtq plot [--job ID] [--out DIR] [--format svg|png|both]      charts (Vega-Lite, SVG, PNG) and CSVs from the log alone
  dtq info                                                     leader, epoch, applied sequence, state digest
  dtq replay [--until SEQ]                                     rebuild all state from the log; prints the digest
  dtq events [--follow] [--from SEQ] [--limit N] [--json]     the log, human-readable
  dtq compact [--keep-events N]                               snapshot now and purge the events behind it (docs/operations.md)

Every command takes --nats URL (default: $DTQ_NATS_URL, else nats://127.0.0.1:4222) and the NATS credentials
  --user U --password P (or nats://U:P@host) | --token T | --nkey SEEDFILE | --creds FILE, and TLS: --tls-ca PEM
  --tls-cert PEM --tls-key PEM; each also from $DTQ_NATS_USER, _PASSWORD, _TOKEN, _NKEY, _CREDS, _TLS_CA, _TLS_CERT, _TLS_KEY.
Exit codes: 0 done, 1 the job failed or was cancelled, 2 bad usage or spec, 3 the cluster cannot be reached.`

type Command = (argv: string[]) => Promise<number>

export const COMMANDS: Record<string, Command> = {
  up: upCommand,
  "secure-config": secureConfigCommand,
  coordinator: coordinatorCommand,
  worker: workerCommand,
  producer: promptCommand,
  sum: rangeCommand("sum"),
  sumsq: rangeCommand("sumsq"),
  jobs: jobsCommand,
  job: jobCommand,
  workers: workersCommand,
  cancel: cancelCommand,
  info: infoCommand,
  chat: chatCommand,
  replay: replayCommand,
  compact: compactCommand,
  events: eventsCommand,
  demo: demoCommand,
  train: trainCommand,
  resume: resumeCommand,
  infer: inferCommand,
  "set-batch-size": setBatchSizeCommand,
  predictions: predictionsCommand,
  plot: plotCommand,
  submit: submitCommand,
  retry: retryCommand,
  errors: errorsCommand
}

/** Maps an error to its exit code and one line for stderr. */
export const describeFailure = (error: unknown): { code: number; line: string } => {
  if (error instanceof UsageError || error instanceof DuplicateWorker) return { code: 2, line: error.message }
  if (error instanceof BadSpec) return { code: 2, line: `bad job spec: ${error.toString()}` }
  if (error instanceof InvalidInput) return { code: 2, line: `bad input: ${error.message}` }
  if (error instanceof TaskModuleError) return { code: 2, line: error.message }
  if (error instanceof UnknownTask) return { code: 2, line: error.message }
  if (error instanceof ClusterUnreachable || error instanceof StreamSetupError || error instanceof CredentialsUnusable) return { code: 3, line: error.message }
  if (error instanceof NoCoordinator) return { code: 3, line: error.message }
  if (error instanceof LocalServerError) return { code: 1, line: error.message }
  const message = error instanceof Error ? error.message : String(error)
  return { code: 1, line: message.split("\n")[0] ?? "unknown error" }
}

export const main = async (argv: string[]): Promise<number> => {
  const [name, ...rest] = argv
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(`${HELP}\n`)
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS[name]
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)} (dtq help lists the commands)`)
  if (rest.includes("--help")) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }
  return command(rest)
}

/** The value of `--name V` or `--name=V` in argv (for redaction only). */
const flagValue = (argv: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1]
    if (argv[i]?.startsWith(`--${name}=`)) return argv[i]?.slice(name.length + 3)
  }
  return undefined
}

/** Runs the command line and exits the process with its code. */
export const run = (argv: string[]): void => {
  main(argv).then(
    (code) => process.exit(code),
    (error: unknown) => {
      const { code, line } = describeFailure(error)
      // Whatever the error, no secret leaves in it (the variables' own values included).
      const secrets = { password: process.env.DTQ_NATS_PASSWORD ?? flagValue(argv, "password"), token: process.env.DTQ_NATS_TOKEN ?? flagValue(argv, "token") }
      process.stderr.write(`dtq: ${redact(line, secrets)}\n`)
      if (process.env.DTQ_DEBUG !== undefined && error instanceof Error) process.stderr.write(`${redact(error.stack ?? "", secrets)}\n`)
      process.exit(code)
    }
  )
}

/** Whether Node was started on this file (`node main.js ...`), not importing it (import.meta.main is Node 24.2+ only). */
const startedDirectly = (): boolean => {
  const entry = process.argv[1]
  if (entry === undefined) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (startedDirectly()) run(process.argv.slice(2))
