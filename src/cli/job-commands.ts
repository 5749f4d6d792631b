// One-shot producer commands: submit, inspect, control.
import { Client, type Answer, type JobOutcome } from "../producer/client.ts"
import { jobDetail, jobsTable, retentionLine, progressBar, workersTable, duration } from "../producer/format.ts"
import { stateDigest } from "../projections/digest.ts"
import { summaryView } from "../projections/views.ts"
import type { InfoReply } from "../coordinator/control.ts"
import { natsTarget } from "./nats-flags.ts"
import { BadSpec } from "../domain/errors.ts"
import { resolveSpec } from "../domain/job-spec.ts"
import { UsageError, boolFlag, intFlag, parseArgs, stringFlag, type Parsed } from "./args.ts"
import { waitWithCoordinator } from "./coordinator-watch.ts"
import { JOB_FILTER_FLAGS, jobFilterFromArgs } from "./failed-jobs-commands.ts"

const out = (text: string) => process.stdout.write(`${text}\n`)
const json = (value: unknown) => out(JSON.stringify(value))
const note = (text: string) => process.stderr.write(`${text}\n`)

export const withClient = async <T>(args: Parsed, f: (client: Client) => Promise<T>): Promise<T> => {
  const { url, credentials } = natsTarget(args)
  const client = await Client.connect(url, credentials)
  try {
    return await f(client)
  } finally {
    await client.close()
  }
}

const POLICY_FLAGS = {
  "max-attempts": "string",
  "backoff-ms": "string",
  "lease-ms": "string",
  "stall-ms": "string",
  "max-task-ms": "string",
  "no-speculation": "boolean",
  placement: "string"
} as const

/** `dtq sum A B` / `dtq sumsq A B`. */
export const rangeCommand = (op: "sum" | "sumsq") => async (argv: string[]): Promise<number> => {
  const args = parseArgs(op, argv, { tasks: "string", name: "string", "job-id": "string", wait: "boolean", "keep-waiting": "boolean", json: "boolean", ...POLICY_FLAGS })
  if (args.positional.length !== 2) {
    throw new UsageError(`dtq ${op} needs two integers, the first and last of the range (dtq ${op} 1 1000000)`)
  }
  const [from, to] = args.positional as [string, string]
  const request = {
    kind: op,
    from,
    to,
    ...numberField(args, "tasks", "tasks"),
    ...numberField(args, "max-attempts", "maxAttempts"),
    ...numberField(args, "backoff-ms", "backoffMs"),
    ...numberField(args, "lease-ms", "leaseMs"),
    ...numberField(args, "stall-ms", "stallMs"),
    ...numberField(args, "max-task-ms", "maxTaskMs"),
    ...(boolFlag(args, "no-speculation") ? { speculation: false } : {}),
    ...(stringFlag(args, "placement") === undefined ? {} : { placement: stringFlag(args, "placement") }),
    ...(stringFlag(args, "name") === undefined ? {} : { name: stringFlag(args, "name") })
  }
  return submitRequest(args, request)
}

/** Flags go into the spec as written, so the spec's own validation names the field. */
export const numberField = (args: Parsed, flag: string, field: string): Record<string, unknown> => {
  const raw = stringFlag(args, flag)
  if (raw === undefined) return {}
  const n = Number(raw)
  if (raw.trim() === "" || !Number.isFinite(n)) throw new BadSpec({ field, message: `must be a number, not ${JSON.stringify(raw)}` })
  return { [field]: n }
}

export const submitRequest = (args: Parsed, request: Record<string, unknown>): Promise<number> => {
  resolveSpec(request) // a bad spec is refused here, before any connection: exit 2 even with no server
  const chosen = stringFlag(args, "job-id")
  return withClient(args, async (client) => {
    const asJson = boolFlag(args, "json")
    if (!boolFlag(args, "wait")) {
      const { jobId, spec, existing } = chosen === undefined ? await client.submitJob(request) : await client.submitJob(request, chosen, { claim: true })
      if (asJson) json({ jobId, state: "submitted", tasks: spec.tasks, ...(existing === true ? { existing: true } : {}) })
      else out(`${existing === true ? `${jobId} was already submitted with this very spec` : `submitted ${jobId}`} (${spec.kind} over ${spec.tasks} task${spec.tasks === 1 ? "" : "s"})`)
      return 0
    }
    const bar = !asJson && process.stderr.isTTY === true
    const started = Date.now()
    const jobId = chosen ?? client.newJobId()
    const run = client.run(request, (p) => {
      if (bar) process.stderr.write(`\r${progressBar(p.done, p.tasks)} ${p.coordinator ? p.state : "waiting for a coordinator"} ${duration(Date.now() - started)}   `)
    }, { jobId, claim: chosen !== undefined })
    const outcome = await waitWithCoordinator(client, jobId, run, { keepWaiting: boolFlag(args, "keep-waiting"), note: waitNote(bar) })
    if (bar) process.stderr.write("\r\x1b[K")
    printOutcome(outcome, asJson)
    return outcome.state === "completed" ? 0 : 1
  })
}

/** A line about the wait on stderr (clearing a progress bar first). */
export const waitNote = (bar: boolean) => (line: string) => note(bar ? `\r\x1b[K${line}` : line)

export const printOutcome = (outcome: JobOutcome, asJson: boolean): void => {
  if (asJson) {
    json(outcome)
    return
  }
  if (outcome.state === "completed") out(`${outcome.jobId} completed in ${duration(outcome.durationMs)}: ${outcome.result}`)
  else out(`${outcome.jobId} ${outcome.state}: ${outcome.reason ?? ""}`)
}

/** Unwraps an answer, saying on stderr when it came from a replay (no coordinator was running). */
const fromAnswer = <T>(answer: Answer<T>): T => {
  if (answer.replayed) note("dtq: no coordinator answered; this view is replayed from the log")
  return answer.value
}

export const jobsCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("jobs", argv, { json: "boolean", ...JOB_FILTER_FLAGS })
  const filter = jobFilterFromArgs(args, Date.now())
  return withClient(args, async (client) => {
    const { jobs, total, retention } = fromAnswer(await client.jobs(filter))
    if (boolFlag(args, "json")) json({ jobs, total, ...(retention === undefined ? {} : { retention }) })
    else out(jobsTable(jobs, total) + (retention === undefined ? "" : `\n${retentionLine(retention)}`))
    return 0
  })
}

export const jobCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("job", argv, { json: "boolean", wait: "boolean", "keep-waiting": "boolean" })
  const jobId = args.positional[0]
  if (jobId === undefined || args.positional.length > 1) throw new UsageError("dtq job needs one job id (dtq job j-abc123)")
  return withClient(args, async (client) => {
    if (boolFlag(args, "wait")) {
      const outcome = await waitWithCoordinator(client, jobId, client.wait(jobId), { keepWaiting: boolFlag(args, "keep-waiting"), note })
      printOutcome(outcome, boolFlag(args, "json"))
      return outcome.state === "completed" ? 0 : 1
    }
    const reply = fromAnswer(await client.jobDetail(jobId))
    if (reply.job === undefined) throw new UsageError(reply.error ?? `unknown job ${jobId}`)
    if (boolFlag(args, "json")) json({ ...reply.job, ...(reply.blocked === undefined ? {} : { blocked: reply.blocked }) })
    else out(jobDetail(reply.job, reply.lastErrors) + (reply.blocked === undefined ? "" : `\nnote      ${reply.blocked}`))
    return 0
  })
}

export const workersCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("workers", argv, { json: "boolean", verbose: "boolean" })
  const verbose = boolFlag(args, "verbose") || args.positional[0] === "verbose"
  return withClient(args, async (client) => {
    const { workers } = fromAnswer(await client.workers())
    if (boolFlag(args, "json")) json({ workers })
    else out(workersTable(workers, verbose))
    return 0
  })
}

export const cancelCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("cancel", argv, { reason: "string" })
  const jobId = args.positional[0]
  if (jobId === undefined || args.positional.length > 1) throw new UsageError("dtq cancel needs one job id (dtq cancel j-abc123)")
  return withClient(args, async (client) => {
    try {
      await client.cancel(jobId, stringFlag(args, "reason") ?? "cancelled by request")
    } catch (error) {
      throw new UsageError((error as Error).message)
    }
    out(`cancel requested for ${jobId}`)
    return 0
  })
}

export const infoCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("info", argv, { json: "boolean" })
  return withClient(args, async (client) => {
    const info = await client.ask<InfoReply>("info").catch(() => undefined)
    if (info === undefined) {
      const lastSeq = await client.log.lastSeq()
      if (boolFlag(args, "json")) json({ leader: null, streamLastSeq: lastSeq })
      else out(`no coordinator is answering; the event stream holds ${lastSeq} events (dtq replay rebuilds the state)`)
      return 0
    }
    if (boolFlag(args, "json")) return json(info), 0
    const s = info.summary
    out(
      [
        `leader       ${info.leader} (epoch ${info.epoch}) on ${info.host} pid ${info.pid}`,
        `standbys     ${info.standbys.length === 0 ? "none" : info.standbys.map((s) => `${s.id} on ${s.host} pid ${s.pid} (applied #${s.appliedSeq})`).join(", ")}`,
        `applied seq  ${info.appliedSeq} of ${info.streamLastSeq} in the stream (${info.streamReplicas} replica${info.streamReplicas === 1 ? "" : "s"})`,
        `digest       ${info.digest}`,
        `clock        ${clockLine(info.clock)}`,
        ...(info.stream === undefined
          ? []
          : [
              `stream       ${info.stream.messages} events from #${info.stream.firstSeq}, ${info.stream.bytes} bytes` +
                ` (limits: ${info.stream.maxBytes > 0 ? `${info.stream.maxBytes} bytes` : "no byte limit"}, ${info.stream.maxMsgs > 0 ? `${info.stream.maxMsgs} events` : "no event limit"})`,
              ...(info.stream.full === null ? [] : [`STREAM FULL  since ${new Date(info.stream.full.at).toISOString()}: ${info.stream.full.message}`])
            ]),
        `snapshot     ${info.snapshot === null ? "none" : `#${info.snapshot.seq} (${info.snapshot.name}, ${info.snapshot.size} bytes, ${info.snapshot.how} ${new Date(info.snapshot.at).toISOString()})`}`,
        `jobs         ${Object.entries(s.jobs).map(([k, v]) => `${v} ${k}`).join(", ")}`,
        `workers      ${Object.entries(s.workers).map(([k, v]) => `${v} ${k}`).join(", ")}`,
        `events       ${s.eventsApplied} applied, ${s.rejected} set aside (${s.fenced} fenced), ${s.duplicateResults} duplicate results`,
        ...s.recentRejected.slice(-5).map((r) => `  set aside #${r.seq}: ${r.reason}`)
      ].join("\n")
    )
    return 0
  })
}

/** The leader's estimate of the stream's time (the clock of leases and deadlines), with its error bound. */
const clockLine = (clock: InfoReply["clock"] | undefined): string => {
  if (clock === undefined) return "not reported by this coordinator"
  const at = new Date(clock.now).toISOString()
  if (clock.basis === "wall") return `${at} from the leader's wall clock (it has read nothing from the stream yet)`
  const error = clock.errorMs === undefined ? "error not yet bounded" : `behind the stream by at most ${clock.errorMs} ms`
  const host = `${clock.wallOffsetMs >= 0 ? "+" : ""}${clock.wallOffsetMs} ms`
  return `stream time ${at}, ${error}; the leader host's own clock is ${host} off it`
}

export const chatCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("chat", argv, { from: "string" })
  const text = args.positional.join(" ").trim()
  if (text === "") throw new UsageError("dtq chat needs a message (dtq chat hello everyone)")
  return withClient(args, async (client) => {
    client.chat(text, stringFlag(args, "from"))
    await client.nc.flush()
    return 0
  })
}

export const replayCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("replay", argv, { json: "boolean", until: "string" })
  const until = intFlag(args, "until", 0, Number.MAX_SAFE_INTEGER)
  return withClient(args, async (client) => {
    const { state, ms, history, lastSeq, pastEnd } = await client.replay(until)
    // Past the end: replayed to the end, and said so (on stderr, so --json stays one object on stdout).
    if (pastEnd) note(`dtq: --until ${until} is past the log's end (#${lastSeq}); replayed to the end`)
    const digest = stateDigest(state)
    const summary = summaryView(state)
    if (boolFlag(args, "json")) return json({ ...summary, digest, replayMs: Math.round(ms), history, lastSeq, ...(pastEnd ? { untilPastEnd: true } : {}) }), 0
    out(
      [
        `replayed     ${state.seq} events in ${duration(ms)} (${Math.round(state.seq / Math.max(ms / 1000, 1e-6))} events/s)`,
        `history      ${history.snapshotSeq === undefined ? "the whole log, from #1" : `events before #${history.firstSeq} were compacted: from snapshot #${history.snapshotSeq}, then the log`}`,
        `epoch        ${state.epoch}${state.leaderId === undefined ? "" : ` (leader ${state.leaderId})`}`,
        `jobs         ${Object.entries(summary.jobs).map(([k, v]) => `${v} ${k}`).join(", ")}`,
        `workers      ${Object.entries(summary.workers).map(([k, v]) => `${v} ${k}`).join(", ")}`,
        `events       ${summary.eventsApplied} applied, ${summary.rejected} set aside (${summary.fenced} fenced), ${summary.duplicateResults} duplicate results`,
        `digest       ${digest}`
      ].join("\n")
    )
    return 0
  })
}

export const compactCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("compact", argv, { "keep-events": "string", json: "boolean" })
  if (args.positional.length > 0) throw new UsageError(`dtq compact takes no arguments, got ${args.positional.join(" ")}`)
  const keepEvents = intFlag(args, "keep-events", 0, Number.MAX_SAFE_INTEGER) ?? 0
  return withClient(args, async (client) => {
    note(`dtq: asking the leader to snapshot and compact the log (keeping the newest ${keepEvents} events)`)
    const result = await client.ask<{ compacted: boolean; reason?: string; throughSeq?: number; purged?: number; snapshotSeq?: number }>("compact", { keepEvents }, 60_000)
    if (boolFlag(args, "json")) return json(result), 0
    if (!result.compacted) return out(`not compacted: ${result.reason}`), 0
    out(`compacted: purged ${result.purged} events through #${result.throughSeq}; recovery starts from snapshot #${result.snapshotSeq}; replay and plot cover the log from #${(result.throughSeq ?? 0) + 1}`)
    return 0
  })
}
