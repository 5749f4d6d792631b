// `dtq up`: a whole local cluster in the foreground until Ctrl-C.
import { resolve } from "node:path"
import { UsageError, intFlag, parseArgs, stringFlag } from "./args.ts"
import { portOpen } from "../nats/local-server.ts"
import { LocalCluster } from "./local-cluster.ts"
import { loadTaskModule } from "../tasks/load.ts"

const DEFAULT_PORT = 4222

export const upCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("up", argv, { workers: "string", slots: "string", port: "string", store: "string", "nats-cluster": "string", standbys: "string", tasks: "string" })
  if (args.positional.length > 0) throw new UsageError(`dtq up takes no arguments, got ${args.positional.join(" ")}`)
  const workers = intFlag(args, "workers", 0, 256) ?? 3
  const slots = intFlag(args, "slots", 1, 4096) ?? 4
  let port = intFlag(args, "port", 1, 65535)
  if (port === undefined) port = (await portOpen(DEFAULT_PORT)) ? undefined : DEFAULT_PORT
  else if (await portOpen(port)) throw new UsageError(`--port ${port} is already in use`)
  const storeDir = resolve(stringFlag(args, "store") ?? ".dtq/store")
  const print = (name: string, line: string) => process.stdout.write(`${name.padEnd(11)}| ${line}\n`)
  const natsCluster = intFlag(args, "nats-cluster", 1, 7) ?? 1
  const standbys = intFlag(args, "standbys", 0, 8) ?? 0
  if (natsCluster > 1 && stringFlag(args, "port") !== undefined) throw new UsageError("--port applies to a single server; a --nats-cluster uses free ports")
  const tasks = stringFlag(args, "tasks")
  if (tasks !== undefined) await loadTaskModule(tasks) // a module that cannot load is refused here, not in every worker
  const workerArgs = tasks === undefined ? [] : ["--tasks", resolve(tasks)]
  const cluster = await LocalCluster.start({ workers, slots, storeDir, natsCluster, standbys, workerArgs, supervise: true, ...(port === undefined || natsCluster > 1 ? {} : { port }), output: print })
  process.stdout.write(
    [
      ``,
      `dtq is up: ${natsCluster > 1 ? `${natsCluster} nats-servers as a cluster (streams with ${natsCluster} replicas)` : "nats-server"} at ${cluster.url} (JetStream store ${storeDir}),`,
      `a coordinator${standbys > 0 ? ` and ${standbys} standby(s)` : ""}, and ${workers} worker(s) with ${slots} slot(s) each.`,
      `In another terminal:`,
      ...(cluster.nats.ports.length === 1 && cluster.nats.ports[0] === DEFAULT_PORT ? [] : [`  export DTQ_NATS_URL=${cluster.url}`]),
      `  npx dtq sum 1 1000000 --wait`,
      `  npx dtq producer`,
      `Ctrl-C stops everything.`,
      ``
    ].join("\n") + "\n"
  )
  await new Promise<void>((r) => {
    process.once("SIGINT", r)
    process.once("SIGTERM", r)
  })
  process.stdout.write("\nstopping the local cluster...\n")
  await cluster.stop()
  process.stdout.write("stopped.\n")
  return 0
}
