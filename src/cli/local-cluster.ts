// A whole cluster on this machine: nats-server, one coordinator and N workers as child processes.
// Children are connected over IPC, so they stop by themselves if this process dies.
import { spawn, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { createInterface } from "node:readline"
import { startLocalServer } from "../nats/local-server.ts"
import { startLocalNatsCluster } from "../nats/local-nats-cluster.ts"
import { supervise, type Supervised } from "./supervisor.ts"

/** The CLI's entry file beside this one: main.ts when dtq runs from its source, main.js in an installed package. */
export const CLI_PATH = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./main.ts" : "./main.js", import.meta.url))
/**
 * Node flags for the roles: run from source, they resolve `import ... from "dtq"` in a user's task module to the
 * same source (the "dtq-source" export condition) rather than to a build that may be stale or missing.
 */
const NODE_FLAGS = CLI_PATH.endsWith(".ts") ? ["--conditions=dtq-source"] : []

export type LocalClusterOptions = {
  readonly workers: number
  readonly slots: number
  readonly storeDir: string
  readonly port?: number
  /** Run N nats-servers as a cluster (streams and buckets with N replicas) instead of one. */
  readonly natsCluster?: number
  /** Standby coordinators besides the leader. Default 0. */
  readonly standbys?: number
  readonly workerArgs?: ReadonlyArray<string>
  /** Arguments for worker i alone (after workerArgs): per-worker load injection in experiments. */
  readonly workerArgsOf?: (index: number) => ReadonlyArray<string>
  readonly coordinatorArgs?: ReadonlyArray<string>
  /** A secured server: its authorization (and TLS) config, and each role's credential flags. */
  readonly security?: {
    readonly serverConfig: string
    readonly coordinatorArgs: ReadonlyArray<string>
    readonly workerArgs: (workerId: string) => ReadonlyArray<string>
  }
  /**
   * Restart a coordinator or worker that exits without being asked to (dtq up), with a backoff and a
   * line on `output` under the name "supervisor". Default false: tests and benchmarks kill children on purpose.
   */
  readonly supervise?: boolean
  /** Each line a child prints, with its name. Default: discarded. */
  readonly output?: (name: string, line: string) => void
}

export type Child = { readonly name: string; readonly process: ChildProcess; readonly exited: Promise<number | null> }

/** Starts `dtq ROLE ...` as a child process and resolves once it printed a line matching `ready`. */
export const spawnRole = (
  name: string,
  args: ReadonlyArray<string>,
  ready: RegExp,
  output?: (name: string, line: string) => void,
  timeoutMs = 30_000
): Promise<Child> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI_PATH, ...args], { stdio: ["ignore", "pipe", "pipe", "ipc"] })
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    let settled = false
    const recent: string[] = []
    const timer = setTimeout(() => fail(`${name} did not become ready within ${timeoutMs} ms`), timeoutMs)
    const fail = (why: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.kill("SIGKILL")
      reject(new Error(`${why}: ${recent.slice(-5).join(" | ")}`))
    }
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue
      createInterface({ input: stream }).on("line", (line) => {
        recent.push(line)
        if (recent.length > 20) recent.shift()
        output?.(name, line)
        if (!settled && ready.test(line)) {
          settled = true
          clearTimeout(timer)
          resolve({ name, process: child, exited })
        }
      })
    }
    void exited.then((code) => fail(`${name} exited with code ${code}`))
  })

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export const stopChild = async (child: Child, graceMs = 10_000): Promise<void> => {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return
  child.process.kill("SIGTERM")
  const timer = setTimeout(() => child.process.kill("SIGKILL"), graceMs)
  await child.exited
  clearTimeout(timer)
}

/** The NATS side of a local cluster: one server or several. */
export type LocalNats = { readonly url: string; readonly ports: number[]; readonly stop: () => Promise<void> }

const startNats = async (options: LocalClusterOptions): Promise<LocalNats> => {
  if ((options.natsCluster ?? 1) > 1) {
    const cluster = await startLocalNatsCluster({ size: options.natsCluster as number, baseDir: options.storeDir })
    return { url: cluster.url, ports: cluster.servers.map((s) => s.port), stop: cluster.stop }
  }
  const server = await startLocalServer({
    storeDir: options.storeDir,
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.security === undefined ? {} : { config: options.security.serverConfig })
  })
  return { url: server.url, ports: [server.port], stop: () => server.stop() }
}

export class LocalCluster {
  readonly nats: LocalNats
  readonly #coordinator: Supervised
  readonly #standbys: Supervised[]
  readonly #workers: Supervised[]
  readonly #options: LocalClusterOptions

  private constructor(nats: LocalNats, coordinator: Supervised, standbys: Supervised[], workers: Supervised[], options: LocalClusterOptions) {
    this.nats = nats
    this.#coordinator = coordinator
    this.#standbys = standbys
    this.#workers = workers
    this.#options = options
  }

  /** The processes running now (a supervised one may have been restarted). */
  get coordinator(): Child {
    return this.#coordinator.current()
  }
  get standbys(): Child[] {
    return this.#standbys.map((s) => s.current())
  }
  get workers(): Child[] {
    return this.#workers.map((w) => w.current())
  }

  get url(): string {
    return this.nats.url
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const nats = await startNats(options)
    const url = nats.url
    const replicas = (options.natsCluster ?? 1) > 1 ? ["--replicas", String(options.natsCluster)] : []
    const started: Supervised[] = []
    const role = (name: string, args: string[], ready: RegExp): Promise<Supervised> => {
      const start = () => spawnRole(name, args, ready, options.output)
      // A restarted coordinator may stand by (another leads by then): either line means it is up.
      const restartReady = name === "coordinator" ? /leading as|standing by/ : ready
      const say = (line: string) => options.output?.("supervisor", line)
      return options.supervise === true
        ? supervise(name, (restart) => spawnRole(name, args, restart ? restartReady : ready, options.output), say)
        : unsupervised(name, start)
    }
    try {
      const coordinatorArgs = ["coordinator", "--nats", url, ...replicas, ...(options.security?.coordinatorArgs ?? []), ...(options.coordinatorArgs ?? [])]
      const workerArgs = (id: string) => [...(options.security?.workerArgs(id) ?? []), ...(options.workerArgs ?? [])]
      const coordinator = await role("coordinator", coordinatorArgs, /leading as/)
      started.push(coordinator)
      const standbys: Supervised[] = []
      for (let i = 0; i < (options.standbys ?? 0); i++) standbys.push(await role(`standby${i + 1}`, coordinatorArgs, /standing by|leading as/))
      started.push(...standbys)
      const workers = await Promise.all(
        Array.from({ length: options.workers }, (_, i) =>
          role(`w${i + 1}`, ["worker", "--nats", url, "--id", `w${i + 1}`, "--slots", String(options.slots), ...workerArgs(`w${i + 1}`), ...(options.workerArgsOf?.(i) ?? [])], /joined with/)
        )
      )
      started.push(...workers)
      return new LocalCluster(nats, coordinator, standbys, workers, options)
    } catch (error) {
      await Promise.all(started.map((c) => c.stop()))
      await nats.stop()
      throw error
    }
  }

  /** Stops workers (they drain), then the coordinators, then NATS. */
  async stop(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.stop()))
    await Promise.all(this.#standbys.map((s) => s.stop()))
    await this.#coordinator.stop()
    await this.nats.stop()
  }

  get options(): LocalClusterOptions {
    return this.#options
  }
}

/** A child that is not restarted (benchmarks, tests): the same face as a supervised one. */
const unsupervised = async (name: string, start: () => Promise<Child>): Promise<Supervised> => {
  const child = await start()
  return { name, current: () => child, restarts: () => 0, stop: () => stopChild(child) }
}
