// Failed-job handling: `dtq jobs` filters, `dtq retry JOB`, `dtq errors [JOB]`.
import { JOB_STATES, type JobFilter } from "../projections/job-filter.ts"
import { duration } from "../producer/format.ts"
import { UsageError, boolFlag, parseArgs, stringFlag, type Parsed } from "./args.ts"
import { waitWithCoordinator } from "./coordinator-watch.ts"
import { printOutcome, withClient } from "./job-commands.ts"

const out = (text: string) => process.stdout.write(`${text}\n`)
const note = (text: string) => process.stderr.write(`${text}\n`)

export const JOB_FILTER_FLAGS = { state: "string", kind: "string", name: "string", since: "string" } as const

/** `--since`: an ISO time, ms since the epoch, or an age such as 90s, 30m, 2h, 7d (before now). */
export const parseSince = (raw: string, now: number): number => {
  const age = /^(\d+)(s|m|h|d)$/.exec(raw.trim())
  if (age !== null) return now - Number(age[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as "s"]
  const at = /^\d+$/.test(raw.trim()) ? Number(raw) : Date.parse(raw)
  if (!Number.isFinite(at)) throw new UsageError(`--since must be an ISO time, ms since the epoch or an age like 30m, 2h, 7d, not ${JSON.stringify(raw)}`)
  return at
}

export const jobFilterFromArgs = (args: Parsed, now: number): JobFilter => {
  const state = stringFlag(args, "state")
  if (state !== undefined && !(JOB_STATES as ReadonlyArray<string>).includes(state)) {
    throw new UsageError(`--state must be one of ${JOB_STATES.join(", ")}, not ${JSON.stringify(state)}`)
  }
  const kind = stringFlag(args, "kind")
  const name = stringFlag(args, "name")
  const since = stringFlag(args, "since")
  return {
    ...(state === undefined ? {} : { state: state as JobFilter["state"] & string }),
    ...(kind === undefined ? {} : { kind }),
    ...(name === undefined ? {} : { name }),
    ...(since === undefined ? {} : { since: parseSince(since, now) })
  }
}

/** `dtq retry JOB [--wait] [--json] [--queue-unknown]`: a new job with JOB's spec, linked to it in the log. */
export const retryCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("retry", argv, { wait: "boolean", json: "boolean", "queue-unknown": "boolean", "keep-waiting": "boolean" })
  const old = args.positional[0]
  if (old === undefined || args.positional.length > 1) throw new UsageError("dtq retry needs one job id, a failed or cancelled job (dtq retry j-abc123)")
  return withClient(args, async (client) => {
    const { jobId, spec } = await client.retry(old, { queueUnknown: boolFlag(args, "queue-unknown") })
    const asJson = boolFlag(args, "json")
    if (!boolFlag(args, "wait")) {
      if (asJson) out(JSON.stringify({ jobId, state: "submitted", retryOf: old, tasks: spec.tasks }))
      else out(`submitted ${jobId}, a retry of ${old} (${spec.kind === "task" ? `task ${spec.task}` : spec.kind} over ${spec.tasks} task${spec.tasks === 1 ? "" : "s"})`)
      return 0
    }
    const outcome = await waitWithCoordinator(client, jobId, client.follow(jobId, spec.tasks), { keepWaiting: boolFlag(args, "keep-waiting"), note })
    printOutcome(outcome, asJson)
    return outcome.state === "completed" ? 0 : 1
  })
}

/** `dtq errors [JOB] [--json]`: the distinct task errors, most frequent first, with the attempts that hit them. */
export const errorsCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("errors", argv, { json: "boolean" })
  if (args.positional.length > 1) throw new UsageError("dtq errors takes at most one job id (dtq errors, or dtq errors j-abc123)")
  const jobId = args.positional[0]
  return withClient(args, async (client) => {
    const groups = await client.errors(jobId)
    if (boolFlag(args, "json")) return out(JSON.stringify({ errors: groups })), 0
    if (groups.length === 0) return out(`no task errors in the log${jobId === undefined ? "" : ` for ${jobId}`}`), 0
    const now = Date.now()
    for (const g of groups) {
      out(`${g.count} x ${g.retryable ? "retryable" : "not retryable"}: ${g.error}`)
      out(`    in ${g.jobs.length} job(s): ${g.jobs.slice(0, 5).join(", ")}${g.jobs.length > 5 ? ", ..." : ""}; last ${duration(now - g.lastAt)} ago`)
      for (const a of g.attempts.slice(0, 5)) out(`    ${a.jobId} task ${a.index} attempt ${a.attempt} on ${a.workerId} at ${new Date(a.at).toISOString()}`)
      if (g.count > 5) out(`    ... ${g.count - Math.min(5, g.attempts.length)} more (--json lists up to ${g.attempts.length})`)
    }
    return 0
  })
}
