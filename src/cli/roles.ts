// `dtq coordinator` and `dtq worker`: one long-lived role per process, stopped cleanly by a signal.
import { Coordinator } from "../coordinator/coordinator.ts"
import { Worker } from "../worker/worker.ts"
import { loadTaskModule, type LoadedTask } from "../tasks/load.ts"
import { natsTarget } from "./nats-flags.ts"
import { UsageError, boolFlag, intFlag, parseArgs, rateFlag, stringFlag } from "./args.ts"

const stamp = (line: string) => `${new Date().toISOString().slice(11, 23)} ${line}`
const say = (line: string) => process.stdout.write(`${stamp(line)}\n`)

/**
 * Runs `stop` on SIGINT/SIGTERM, or when the parent that launched us (dtq up, over IPC) goes away;
 * a second signal exits at once.
 */
const onShutdown = (stop: (signal: string) => Promise<void>): void => {
  let stopping = false
  const handler = (signal: string) => {
    if (stopping) process.exit(130)
    stopping = true
    stop(signal).then(
      () => process.exit(0),
      (error: Error) => {
        process.stderr.write(`dtq: error while stopping: ${error.message}\n`)
        process.exit(1)
      }
    )
  }
  process.on("SIGINT", () => handler("SIGINT"))
  process.on("SIGTERM", () => handler("SIGTERM"))
  if (process.send !== undefined) process.on("disconnect", () => handler("parent exited"))
}

export const coordinatorCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("coordinator", argv, {
    id: "string",
    "worker-timeout-ms": "string",
    "lease-ttl-ms": "string",
    "snapshot-every": "string",
    "no-snapshots": "boolean",
    replicas: "string",
    sharing: "string",
    "retain-ms": "string",
    "retain-jobs": "string",
    "max-stream-bytes": "string",
    "max-stream-msgs": "string",
    "compact-keep-events": "string",
    "no-compaction": "boolean"
  })
  if (args.positional.length > 0) throw new UsageError(`dtq coordinator takes no arguments, got ${args.positional.join(" ")}`)
  const sharing = stringFlag(args, "sharing")
  if (sharing !== undefined && sharing !== "fair" && sharing !== "fifo") throw new UsageError(`--sharing is fair or fifo, not ${JSON.stringify(sharing)}`)
  const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : { [key]: value })
  const coordinator = await Coordinator.start({
    ...natsTarget(args),
    ...optional("id", stringFlag(args, "id")),
    ...optional("workerTimeoutMs", intFlag(args, "worker-timeout-ms", 100, 3_600_000)),
    ...optional("leaseTtlMs", intFlag(args, "lease-ttl-ms", 200, 600_000)),
    ...optional("snapshotEvery", intFlag(args, "snapshot-every", 1, 100_000_000)),
    ...optional("replicas", intFlag(args, "replicas", 1, 5)),
    ...optional("sharing", sharing),
    retention: {
      ...optional("maxAgeMs", intFlag(args, "retain-ms", 0, 3650 * 86_400_000)),
      ...optional("maxJobs", intFlag(args, "retain-jobs", 0, 10_000_000))
    },
    ...(stringFlag(args, "max-stream-bytes") === undefined && stringFlag(args, "max-stream-msgs") === undefined
      ? {}
      : {
          streamLimits: {
            ...optional("maxBytes", intFlag(args, "max-stream-bytes", 1_048_576, Number.MAX_SAFE_INTEGER)),
            ...optional("maxMsgs", intFlag(args, "max-stream-msgs", 100, Number.MAX_SAFE_INTEGER))
          }
        }),
    ...optional("compactKeepEvents", intFlag(args, "compact-keep-events", 0, Number.MAX_SAFE_INTEGER)),
    noCompaction: boolFlag(args, "no-compaction"),
    noSnapshots: boolFlag(args, "no-snapshots"),
    log: say,
    onDeposed: (by, epoch) => say(`deposed by ${by} (epoch ${epoch}); standing by`)
  })
  onShutdown(async (signal) => {
    say(`coordinator ${coordinator.id} stopping (${signal})`)
    await coordinator.stop()
  })
  return new Promise<number>(() => undefined) // runs until a signal
}


export const workerCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("worker", argv, {
    id: "string",
    slots: "string",
    prefetch: "string",
    tasks: "string",
    "fail-rate": "string",
    "delay-rate": "string",
    "delay-ms": "string",
    "reject-rate": "string",
    "fatal-rate": "string",
    "offline-exit-ms": "string",
    "clock-offset-ms": "string",
    "no-drain": "boolean"
  })
  if (args.positional.length > 0) throw new UsageError(`dtq worker takes no arguments, got ${args.positional.join(" ")}`)
  const faults = {
    failRate: rateFlag(args, "fail-rate"),
    delayRate: rateFlag(args, "delay-rate"),
    delayMs: intFlag(args, "delay-ms", 0, 3_600_000) ?? 3000,
    rejectRate: rateFlag(args, "reject-rate"),
    fatalRate: rateFlag(args, "fatal-rate")
  }
  const tasksModule = stringFlag(args, "tasks")
  const tasks = tasksModule === undefined ? new Map<string, LoadedTask>() : await loadTaskModule(tasksModule)
  const id = stringFlag(args, "id")
  const clockOffsetMs = clockOffsetOf(stringFlag(args, "clock-offset-ms"), process.env.DTQ_CLOCK_OFFSET_MS)
  const worker = await Worker.start({
    ...natsTarget(args),
    ...(id === undefined ? {} : { id }),
    slots: intFlag(args, "slots", 1, 4096) ?? 4,
    ...(intFlag(args, "prefetch", 0, 65536) === undefined ? {} : { prefetch: intFlag(args, "prefetch", 0, 65536) as number }),
    tasks,
    faults,
    offlineExitMs: intFlag(args, "offline-exit-ms", 0, 86_400_000) ?? 60_000,
    ...(clockOffsetMs === 0 ? {} : { clockOffsetMs }),
    onOffline: (detail) => {
      process.stderr.write(`dtq: ${detail}\n`)
      process.exit(3)
    },
    log: say
  })
  const drain = !boolFlag(args, "no-drain")
  onShutdown(async (signal) => {
    say(`worker ${worker.id} stopping (${signal})${drain ? `, draining ${worker.inFlight} task(s)` : ""}`)
    await worker.stop({ drain })
  })
  return new Promise<number>(() => undefined)
}

/** Bound of the test aid --clock-offset-ms: a day either way. */
const MAX_CLOCK_OFFSET_MS = 86_400_000

/** `--clock-offset-ms N` (or env DTQ_CLOCK_OFFSET_MS): a signed whole number of ms; the flag wins. */
export const clockOffsetOf = (flag: string | undefined, env: string | undefined): number => {
  const [raw, name] = flag !== undefined ? [flag, "--clock-offset-ms"] : [env, "DTQ_CLOCK_OFFSET_MS"]
  if (raw === undefined || raw.trim() === "") return 0
  if (!/^[+-]?\d+$/.test(raw.trim())) throw new UsageError(`${name} must be a whole number of milliseconds (negative: behind), not ${JSON.stringify(raw)}`)
  const n = Number(raw.trim())
  if (Math.abs(n) > MAX_CLOCK_OFFSET_MS) throw new UsageError(`${name} must be between -${MAX_CLOCK_OFFSET_MS} and ${MAX_CLOCK_OFFSET_MS}, not ${n}`)
  return n
}
