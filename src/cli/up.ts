// `dtq up`: a whole local cluster in the foreground until Ctrl-C.
import { resolve } from "node:path"
import { existsSync } from "node:fs"
import { UsageError, boolFlag, intFlag, parseArgs, stringFlag, type Parsed } from "./args.ts"
import { portOpen } from "../nats/local-server.ts"
import { LocalCluster } from "./local-cluster.ts"
import { loadTaskModule } from "../tasks/load.ts"
import { readSecureSetup, writeSecureSetup, type SecureSetup } from "../nats/secure-setup.ts"

/** `--secure`: the configuration in --secure-dir (default .dtq/secure), written on first use for w1..wN. */
const secureSetup = (args: Parsed, workers: number, natsCluster: number) => {
  if (!boolFlag(args, "secure")) {
    if (stringFlag(args, "secure-dir") !== undefined) throw new UsageError("--secure-dir applies with --secure")
    return undefined
  }
  if (natsCluster > 1) throw new UsageError("--secure runs one nats-server; for a secured --nats-cluster give each server the file dtq secure-config writes")
  const dir = resolve(stringFlag(args, "secure-dir") ?? ".dtq/secure")
  const workerIds = Array.from({ length: workers }, (_, i) => `w${i + 1}`)
  const setup: SecureSetup = readSecureSetup(dir) ?? writeSecureSetup({ dir, workerIds })
  const missing = workerIds.filter((id) => !existsSync(setup.seedFile("worker", id)))
  if (missing.length > 0) {
    throw new UsageError(`${dir} has no seed for worker(s) ${missing.join(", ")}; write one with: dtq secure-config --out ${dir} --workers ${workers} --force`)
  }
  const nkey = (file: string) => ["--nkey", file]
  return {
    setup,
    security: { serverConfig: setup.authorization, coordinatorArgs: nkey(setup.seedFile("coordinator")), workerArgs: (id: string) => nkey(setup.seedFile("worker", id)) }
  }
}

const DEFAULT_PORT = 4222

export const upCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("up", argv, {
    workers: "string",
    slots: "string",
    port: "string",
    store: "string",
    "nats-cluster": "string",
    standbys: "string",
    tasks: "string",
    secure: "boolean",
    "secure-dir": "string"
  })
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
  const secure = secureSetup(args, workers, natsCluster)
  const cluster = await LocalCluster.start({
    workers,
    slots,
    storeDir,
    natsCluster,
    standbys,
    workerArgs,
    ...(port === undefined || natsCluster > 1 ? {} : { port }),
    ...(secure === undefined ? {} : { security: secure.security }),
    supervise: true,
    output: print
  })
  process.stdout.write(
    [
      ``,
      secure === undefined ? `The server is open: every client is trusted (dtq up --secure runs it with per-role permissions).` : `Secured: every role has its own nkey and permissions (docs/security.md).`,
      `dtq is up: ${natsCluster > 1 ? `${natsCluster} nats-servers as a cluster (streams with ${natsCluster} replicas)` : "nats-server"} at ${cluster.url} (JetStream store ${storeDir}),`,
      `a coordinator${standbys > 0 ? ` and ${standbys} standby(s)` : ""}, and ${workers} worker(s) with ${slots} slot(s) each.`,
      `In another terminal:`,
      ...(cluster.nats.ports.length === 1 && cluster.nats.ports[0] === DEFAULT_PORT ? [] : [`  export DTQ_NATS_URL=${cluster.url}`]),
      ...(secure === undefined ? [] : [`  export DTQ_NATS_NKEY=${secure.setup.seedFile("producer")}   # the producer's seed (${secure.setup.dir})`]),
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
