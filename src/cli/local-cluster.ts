// A whole cluster on this machine: nats-server, one coordinator and N workers as child processes.
// Children are connected over IPC, so they stop by themselves if this process dies.
import { spawn, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { createInterface } from "node:readline"
import { startLocalServer, type LocalServer } from "../nats/local-server.ts"

export const CLI_PATH = fileURLToPath(new URL("./main.ts", import.meta.url))

export type LocalClusterOptions = {
  readonly workers: number
  readonly slots: number
  readonly storeDir: string
  readonly port?: number
  readonly workerArgs?: ReadonlyArray<string>
  readonly coordinatorArgs?: ReadonlyArray<string>
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
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ["ignore", "pipe", "pipe", "ipc"] })
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

export class LocalCluster {
  readonly server: LocalServer
  readonly coordinator: Child
  readonly workers: Child[]
  readonly #options: LocalClusterOptions

  private constructor(server: LocalServer, coordinator: Child, workers: Child[], options: LocalClusterOptions) {
    this.server = server
    this.coordinator = coordinator
    this.workers = workers
    this.#options = options
  }

  get url(): string {
    return this.server.url
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const server = await startLocalServer({ storeDir: options.storeDir, ...(options.port === undefined ? {} : { port: options.port }) })
    const started: Child[] = []
    try {
      const coordinator = await spawnRole("coordinator", ["coordinator", "--nats", server.url, ...(options.coordinatorArgs ?? [])], /leading as/, options.output)
      started.push(coordinator)
      const workers = await Promise.all(
        Array.from({ length: options.workers }, (_, i) =>
          spawnRole(`w${i + 1}`, ["worker", "--nats", server.url, "--id", `w${i + 1}`, "--slots", String(options.slots), ...(options.workerArgs ?? [])], /joined with/, options.output)
        )
      )
      started.push(...workers)
      return new LocalCluster(server, coordinator, workers, options)
    } catch (error) {
      await Promise.all(started.map((c) => stopChild(c)))
      await server.stop()
      throw error
    }
  }

  /** Stops workers (they drain), then the coordinator, then the server. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => stopChild(w)))
    await stopChild(this.coordinator)
    await this.server.stop()
  }

  get options(): LocalClusterOptions {
    return this.#options
  }
}
