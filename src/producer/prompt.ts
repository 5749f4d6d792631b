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
import { trainRequestFromPairs } from "../domain/train-spec.ts"
import { followTraining } from "../cli/train-command.ts"
import { inferRequestFromPairs } from "../domain/infer-spec.ts"
import { plotFormat, plotSummary, runPlot } from "../cli/plot-command.ts"

export const PROMPT_HELP = `commands (parts separated by | or spaces):
  sum A|B[|tasks=N]        exact sum of A..B; the result is printed when the job ends
  sumsq A|B[|tasks=N]      exact sum of squares
  train k=v|k=v|...        training, e.g. train model=logreg|task=binary_is_zero|samples=2000|epochs=1 (docs/training.md)
  resume JOB|k=v|...       a new training job from JOB's weights, its settings with overrides
  infer model=JOB|k=v|...  batch inference, e.g. infer model=j-abc|batchSize=200|share=2 (also: add-job)
  set-batch-size ID|N      a running inference job's batches from now on
  get-job-stats ID         rate, latency percentiles, workers (also: job ID)
  get-job-assigned-workers ID   the workers serving a job     stop-job ID   cancel it (start-job: jobs start when added)
  plot [job=ID|out=DIR|format=svg|png|both]   charts and CSVs replayed from the log (as dtq plot)
  jobs                     all jobs          job ID      one job
  workers [verbose]        the workers       list        the task kinds the live workers run
  info                     the leader, its epoch, applied sequence and state digest
  cancel ID                cancel a job      chat TEXT   a message to every producer and worker
  help                     this text         exit        leave (running jobs go on)`

const RANGE_OPTIONS = new Set(["tasks", "maxAttempts", "backoffMs", "backoffMaxMs", "leaseMs", "stallMs", "maxTaskMs", "name"])

export type PromptIO = { readonly print: (line: string) => void }

export class Prompt {
  readonly #client: Client
  readonly #io: PromptIO
  readonly #watching = new Set<Promise<void>>()

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
      this.#io.print(error instanceof BadSpec ? `bad job spec: ${error.toString()}` : `error: ${(error as Error).message}`)
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
        p(info === undefined ? "no coordinator is answering" : `leader ${info.leader} epoch ${info.epoch}, applied #${info.appliedSeq} of ${info.streamLastSeq}, digest ${info.digest}`)
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
        // The predecessor's syntax: train model=logreg|task=binary_is_zero|samples=2000|...
        const { kind: _kind, ...request } = trainRequestFromPairs(line.options)
        if (line.command === "resume" && line.positional[0] === undefined) return p("usage: resume JOB|k=v|..."), true
        const { jobId } = line.command === "train" ? await this.#client.train(request) : await this.#client.resume(line.positional[0] as string, request)
        p(`submitted ${jobId} (training); each epoch is printed as it is recorded`)
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
        const { kind: _kind, ...request } = inferRequestFromPairs(line.options)
        const jobId = newJobId()
        const following = this.#client.follow(jobId, 0)
        const { spec } = await this.#client.infer(request, { jobId })
        p(`submitted ${jobId}: inference in ${spec.tasks} batch(es); the result is printed when it ends`)
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
      case "get-job-assigned-workers": {
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
      request[key] = key === "name" ? value : Number(value)
    }
    const jobId = newJobId()
    const following = this.#client.follow(jobId, 0) // subscribed before the job exists: its end cannot be missed
    const { spec } = await this.#client.submitJob(request, jobId)
    if (spec.kind === "sum" || spec.kind === "sumsq") this.#io.print(`submitted ${jobId}: ${spec.kind} of ${spec.from}..${spec.to} in ${spec.tasks} task(s)`)
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
