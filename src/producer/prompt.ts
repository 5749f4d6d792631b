// The interactive producer: a prompt that submits jobs, watches them in the background and prints their
// outcome when they end, inspects the cluster, and shows chat messages from everyone.
import { jobOutputDir, plotOutputDir } from "../cli/output-dir.ts"
import { createInterface } from "node:readline"
import { BadSpec } from "../domain/errors.ts"
import { newJobId } from "../domain/ids.ts"
import { CHAT_SUBJECT } from "../nats/subjects.ts"
import type { InfoReply } from "../coordinator/control.ts"
import type { Client } from "./client.ts"
import { duration, jobDetail, jobsTable, workersTable } from "./format.ts"
import { parsePromptLine, type PromptLine } from "./pipe-syntax.ts"
import { trainRequestFromPairs, writtenKey } from "../domain/train-spec.ts"
import { isFinished } from "../projections/state.ts"
import { followTraining } from "../cli/train-command.ts"
import { inferRequestFromPairs } from "../domain/infer-spec.ts"
import { plotFormat, plotSummary, runPlot } from "../cli/plot-command.ts"

export const PROMPT_HELP = `commands (parts separated by | or spaces):
  sum A|B[|tasks=N]        exact sum of A..B; the result is printed when the job ends
  sumsq A|B[|tasks=N]      exact sum of squares
  train k=v|k=v|...        training, e.g. train model=logreg|task=binary_is_zero|samples=2000|epochs=1 (docs/training.md);
                           jobId=NAME names the job (unique; the same line again returns that job)
  resume JOB|k=v|...       a new training job from JOB's weights, its settings with overrides; JOB may be LAST
                           (this prompt's last training job, else the newest completed); waits for JOB to end
  infer model=JOB|k=v|...  batch inference, e.g. infer model=j-abc|batchSize=200|share=2 (also: add-job)
  set-batch-size ID|N      a running inference job's batches from now on
  get-job-stats ID         rate, latency percentiles, workers (also: job ID)
  get-job-assigned-workers ID   the workers serving a job (also: get-job-assigned-VMs)
  stop-job ID              cancel it         start-job ID   jobs start when added: says where it is
  plot [job=ID|out=DIR|format=svg|png|both]   charts and CSVs replayed from the log (as dtq plot)
  jobs                     all jobs          job ID      one job
  workers [verbose]        the workers       list        the task kinds the live workers run
  info                     the leader, its epoch, applied sequence and state digest
  cancel ID                cancel a job      chat TEXT   a message to every producer and worker
  help                     this text         exit        leave (running jobs go on)`

const RANGE_OPTIONS = new Set(["tasks", "maxAttempts", "backoffMs", "backoffMaxMs", "leaseMs", "stallMs", "maxTaskMs", "name", "jobId"])

export type PromptIO = { readonly print: (line: string) => void }

export class Prompt {
  readonly #client: Client
  readonly #io: PromptIO
  readonly #watching = new Set<Promise<void>>()
  /** User-chosen ids this prompt's submissions were refused under, and why (so `resume ID` can say). */
  readonly #refused = new Map<string, string>()
  /** The last training job this prompt submitted (`resume LAST`). */
  #lastTraining: string | undefined

  constructor(client: Client, io: PromptIO) {
    this.#client = client
    this.#io = io
    client.nc.subscribe(CHAT_SUBJECT, {
      callback: (_e, msg) => {
        try {
          const { from, text } = JSON.parse(new TextDecoder().decode(msg.data)) as { from?: unknown; text?: unknown }
          if (from !== client.id) io.print(`[chat] ${String(from)}: ${String(text)}`)
        } catch {
          // not a chat message of ours
        }
      }
    })
  }

  /** Runs one line; resolves false when the user asked to leave. */
  async run(text: string): Promise<boolean> {
    const line = parsePromptLine(text)
    if (line === undefined) return true
    try {
      return await this.#dispatch(line)
    } catch (error) {
      if (!(error instanceof BadSpec)) {
        this.#io.print(`error: ${(error as Error).message}`)
        return true
      }
      // Name the key as it was typed (dataRef, not data), and remember a user-chosen id that was refused.
      const field = error.field === "" ? "" : writtenKey(line.options, error.field)
      const text = field === "" ? error.message : `${field}: ${error.message}`
      const jobId = line.options.jobId
      if (jobId !== undefined && error.field !== "jobId") this.#refused.set(jobId, text)
      this.#io.print(`bad job spec: ${text}`)
      return true
    }
  }

  /** Resolves when every job submitted from this prompt has ended. */
  async settled(): Promise<void> {
    while (this.#watching.size > 0) await Promise.allSettled([...this.#watching])
  }

  async #dispatch(line: PromptLine): Promise<boolean> {
    const p = this.#io.print
    switch (line.command) {
      case "exit":
      case "quit":
        return false
      case "help":
        p(PROMPT_HELP)
        return true
      case "sum":
      case "sumsq":
        await this.#submitRange(line)
        return true
      case "jobs":
        const { jobs, total } = (await this.#client.jobs()).value
        p(jobsTable(jobs, total))
        return true
      case "job": {
        const jobId = line.positional[0]
        if (jobId === undefined) return p("usage: job ID"), true
        const view = await this.#client.job(jobId)
        p(view === undefined ? `unknown job ${jobId}` : jobDetail(view))
        return true
      }
      case "workers": {
        const { workers } = (await this.#client.workers()).value
        p(workersTable(workers, line.positional[0] === "verbose"))
        return true
      }
      case "list": {
        const { workers } = (await this.#client.workers()).value
        const kinds = new Map<string, string[]>()
        for (const w of workers.filter((w) => w.state === "live")) for (const k of w.kinds) kinds.set(k, [...(kinds.get(k) ?? []), w.workerId])
        p(kinds.size === 0 ? "no live workers" : [...kinds].map(([k, ws]) => `${k.padEnd(16)} ${ws.join(", ")}`).join("\n"))
        return true
      }
      case "info": {
        const info = await this.#client.ask<InfoReply>("info").catch(() => undefined)
        const clock = info?.clock?.errorMs === undefined ? "" : `, stream clock within ${info.clock.errorMs} ms`
        p(info === undefined ? "no coordinator is answering" : `leader ${info.leader} epoch ${info.epoch}, applied #${info.appliedSeq} of ${info.streamLastSeq}, digest ${info.digest}${clock}`)
        return true
      }
      case "cancel": {
        const jobId = line.positional[0]
        if (jobId === undefined) return p("usage: cancel ID"), true
        await this.#client.cancel(jobId)
        p(`cancel requested for ${jobId}`)
        return true
      }
      case "chat":
        if (line.rest === "") return p("usage: chat TEXT"), true
        this.#client.chat(line.rest)
        return true
      case "train":
      case "resume": {
        // The predecessor's syntax: train type=TrainGdBatchJob|jobId=NAME|model=logreg|task=binary_is_zero|...
        const { jobId: chosen, ...pairs } = line.options
        const { kind: _kind, ...request } = trainRequestFromPairs(pairs)
        const options = chosen === undefined ? {} : { jobId: chosen }
        let submitted
        if (line.command === "train") submitted = await this.#client.train(request, options)
        else {
          const from = await this.#resumeSource(line.positional[0])
          if (from === undefined) return true
          submitted = await this.#client.resume(from, request, options)
        }
        const { jobId, spec, existing } = submitted
        this.#lastTraining = jobId
        if (spec.kind === "train" && spec.samplesRequested !== undefined) {
          p(`${jobId}: samples=${spec.samplesRequested} asks for more rows than ${spec.data.source} has; training on all ${spec.samples}`)
        }
        p(existing === true ? `${jobId} was already submitted with this very spec: following it` : `submitted ${jobId} (training); each epoch is printed as it is recorded`)
        const watch = followTraining(this.#client, jobId, { json: false, outDir: jobOutputDir(undefined, jobId), print: (text) => p(text) }).then(
          () => undefined,
          (error: Error) => p(`${jobId}: ${error.message}`)
        )
        this.#watching.add(watch)
        void watch.finally(() => this.#watching.delete(watch))
        return true
      }
      case "infer":
      case "add-job": {
        const { jobId: chosen, ...pairs } = line.options
        const { kind: _kind, ...request } = inferRequestFromPairs(pairs)
        const jobId = chosen ?? newJobId()
        const { spec, existing } = await this.#client.infer(request, { jobId, claim: chosen !== undefined })
        // Followed once stored: wait() reads the job's state, so an end before it subscribes is not missed.
        const following = this.#client.wait(jobId)
        p(existing === true ? `${jobId} was already submitted with this very spec: following it` : `submitted ${jobId}: inference in ${spec.tasks} batch(es); the result is printed when it ends`)
        this.#watch(following.then((o) => p(o.state === "completed" ? `${jobId} completed in ${duration(o.durationMs)}: ${o.result}` : `${jobId} ${o.state}: ${o.reason ?? ""}`)), jobId)
        return true
      }
      case "start-job": {
        const jobId = line.positional[0]
        if (jobId === undefined) return p("usage: start-job ID"), true
        const view = await this.#client.job(jobId)
        p(view === undefined ? `unknown job ${jobId}` : `${jobId} is ${view.state}: jobs start as soon as they are added`)
        return true
      }
      case "stop-job": {
        const jobId = line.positional[0]
        if (jobId === undefined) return p("usage: stop-job ID"), true
        await this.#client.cancel(jobId, "stopped by request")
        p(`stop requested for ${jobId}`)
        return true
      }
      case "set-batch-size": {
        const [jobId, size] = line.positional
        if (jobId === undefined || size === undefined) return p("usage: set-batch-size ID|N"), true
        await this.#client.setBatchSize(jobId, Number(size))
        p(`asked ${jobId} for batches of ${size} rows`)
        return true
      }
      case "get-job-stats": {
        const jobId = line.positional[0]
        if (jobId === undefined) return p("usage: get-job-stats ID"), true
        const view = await this.#client.job(jobId)
        p(view === undefined ? `unknown job ${jobId}` : jobDetail(view))
        return true
      }
      case "get-job-assigned-workers":
      case "get-job-assigned-vms": {
        const jobId = line.positional[0]
        if (jobId === undefined) return p("usage: get-job-assigned-workers ID"), true
        const { workers } = (await this.#client.workers()).value
        const serving = workers.filter((w) => (w.jobs?.[jobId] ?? 0) > 0).map((w) => `${w.workerId} (${w.jobs[jobId]} lease(s))`)
        p(serving.length === 0 ? `no worker holds a lease of ${jobId} now` : serving.join("\n"))
        return true
      }
      case "plot": {
        const outDir = plotOutputDir(line.options.out, line.options.job)
        const result = await runPlot(this.#client, { outDir, format: plotFormat(line.options.format), ...(line.options.job === undefined ? {} : { jobId: line.options.job }) })
        p(plotSummary(result, outDir))
        return true
      }
      default:
        p(`unknown command ${JSON.stringify(line.command)}; type help`)
        return true
    }
  }

  /**
   * The job `resume` starts from: a job id, or LAST (this prompt's last training job). A job still running
   * is waited for (saying so), since its weights are what the new job starts from.
   */
  async #resumeSource(named: string | undefined): Promise<string | undefined> {
    const p = this.#io.print
    if (named === undefined) return p("usage: resume JOB|jobId=NEW|k=v|...  (JOB may be LAST)"), undefined
    // LAST: this prompt's last training job, else the cluster's newest completed one.
    const from = named.toUpperCase() === "LAST" ? (this.#lastTraining ?? (await this.#client.lastTrainingJob())) : named
    const refused = this.#refused.get(from)
    if (refused !== undefined) throw new BadSpec({ field: "job", message: `${from} was refused at submission (${refused}), so it has no weights to resume from` })
    const view = await this.#client.job(from)
    // Unknown may be a job this prompt has just submitted that the coordinator has not folded yet: wait()
    // gives it a moment to appear before it says the job is unknown.
    if (view === undefined || !isFinished(view.state)) {
      p(`waiting for ${from} (${view?.state ?? "not yet known to the coordinator"}) to finish before resuming from its weights`)
      await this.#client.wait(from).catch((error: unknown) => {
        throw new BadSpec({ field: "job", message: error instanceof Error ? error.message : String(error) })
      })
    }
    return from
  }

  #watch(done: Promise<void>, jobId: string): void {
    const watch = done.catch((error: Error) => this.#io.print(`${jobId}: ${error.message}`))
    this.#watching.add(watch)
    void watch.finally(() => this.#watching.delete(watch))
  }

  async #submitRange(line: PromptLine): Promise<void> {
    if (line.positional.length !== 2) throw new Error(`usage: ${line.command} A|B[|tasks=N]`)
    const request: Record<string, unknown> = { kind: line.command, from: line.positional[0], to: line.positional[1] }
    for (const [key, value] of Object.entries(line.options)) {
      if (!RANGE_OPTIONS.has(key)) throw new BadSpec({ field: key, message: `unknown option (one of: ${[...RANGE_OPTIONS].join(", ")})` })
      if (key !== "jobId") request[key] = key === "name" ? value : Number(value)
    }
    const chosen = line.options.jobId
    const jobId = chosen ?? newJobId()
    const { spec, existing } = await this.#client.submitJob(request, jobId, { claim: chosen !== undefined })
    // Followed once stored (a refused submission leaves nothing running): wait() reads the job's state
    // as well as its events, so an end before it subscribes is not missed.
    const following = this.#client.wait(jobId)
    if (existing === true) this.#io.print(`${jobId} was already submitted with this very spec: following it`)
    else if (spec.kind === "sum" || spec.kind === "sumsq") this.#io.print(`submitted ${jobId}: ${spec.kind} of ${spec.from}..${spec.to} in ${spec.tasks} task(s)`)
    const watch = following.then(
      (o) => this.#io.print(o.state === "completed" ? `${jobId} completed in ${duration(o.durationMs)}: ${o.result}` : `${jobId} ${o.state}: ${o.reason ?? ""}`),
      (error: Error) => this.#io.print(`${jobId}: ${error.message}`)
    )
    this.#watching.add(watch)
    void watch.finally(() => this.#watching.delete(watch))
  }
}

/** Reads lines from stdin until `exit` or end of input; at end of piped input, waits for submitted jobs. */
export const runPrompt = async (client: Client): Promise<void> => {
  const interactive = process.stdin.isTTY === true
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive })
  const print = (line: string) => {
    if (interactive) process.stdout.write("\r\x1b[K")
    process.stdout.write(`${line}\n`)
    if (interactive) rl.prompt(true)
  }
  const prompt = new Prompt(client, { print })
  rl.setPrompt("dtq> ")
  if (interactive) {
    print("dtq producer: type help for the commands")
    rl.prompt()
  }
  for await (const text of rl) {
    if (!(await prompt.run(text))) break
    if (interactive) rl.prompt()
  }
  rl.close()
  if (!interactive) await prompt.settled()
}
