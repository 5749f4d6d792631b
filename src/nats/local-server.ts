// Starts and stops a real nats-server with JetStream on this machine: for `dtq up`, tests and benchmarks.
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { delimiter, join } from "node:path"
import { LocalServerError } from "./errors.ts"

const INSTALL_HINT = "install it with `sudo apt-get install nats-server` (Debian/Ubuntu), or set DTQ_NATS_SERVER to its path"

/** Finds the nats-server binary: $DTQ_NATS_SERVER, then PATH, then the usual sbin folders. */
export const findNatsServer = (): string => {
  const explicit = process.env.DTQ_NATS_SERVER
  if (explicit !== undefined && explicit !== "") {
    if (!existsSync(explicit)) throw new LocalServerError({ detail: `DTQ_NATS_SERVER=${explicit} does not exist; ${INSTALL_HINT}` })
    return explicit
  }
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/sbin"]
  for (const dir of dirs) {
    const candidate = join(dir, "nats-server")
    if (dir !== "" && existsSync(candidate)) return candidate
  }
  throw new LocalServerError({ detail: `nats-server was not found; ${INSTALL_HINT}` })
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export type LocalServerOptions = {
  readonly port?: number
  /** The server's HTTP monitoring port (/varz, /connz, /jsz); none when absent. */
  readonly httpPort?: number
  readonly storeDir: string
  /** Cluster membership: this server's route port and the routes of its peers. */
  readonly cluster?: { readonly name: string; readonly routePort: number; readonly routes: ReadonlyArray<string>; readonly serverName: string }
  /** More server configuration (authorization, TLS), as nats-server config text (dtq secure-config writes it). */
  readonly config?: string
  /** Where the server's own log goes (default: discarded). */
  readonly logFile?: string
}

export type LocalServer = {
  readonly url: string
  readonly port: number
  readonly process: ChildProcess
  readonly storeDir: string
  /** http://127.0.0.1:PORT of the monitoring endpoint, when it was asked for. */
  readonly monitorUrl: string | undefined
  /** Stops the server (SIGTERM, then SIGKILL after a grace period); resolves when it has exited. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

/** Starts nats-server with JetStream and resolves once it accepts connections (within 15 s). */
export const startLocalServer = async (options: LocalServerOptions): Promise<LocalServer> => {
  const binary = findNatsServer()
  const port = options.port ?? (await freePort())
  mkdirSync(options.storeDir, { recursive: true })
  const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", options.storeDir]
  const config: string[] = []
  if (options.cluster !== undefined) {
    // JetStream clustering needs a server name and cluster block; a config file keeps the flags readable.
    config.push(
      `server_name: ${options.cluster.serverName}`,
      `cluster {`,
      `  name: ${options.cluster.name}`,
      `  listen: 127.0.0.1:${options.cluster.routePort}`,
      `  routes: [${options.cluster.routes.map((r) => `"${r}"`).join(", ")}]`,
      `}`
    )
  }
  if (options.config !== undefined) config.push(options.config)
  if (config.length > 0) {
    const configFile = join(options.storeDir, options.cluster === undefined ? "server.conf" : "cluster.conf")
    writeFileSync(configFile, config.join("\n") + "\n", { mode: 0o600 })
    args.push("-c", configFile)
  }
  if (options.logFile !== undefined) args.push("-l", options.logFile)
  if (options.httpPort !== undefined) args.push("-m", String(options.httpPort))
  const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const deadline = Date.now() + 15_000
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new LocalServerError({ detail: `nats-server exited at start (code ${child.exitCode}): ${stderr.trim().split("\n").slice(-3).join(" | ")}` })
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new LocalServerError({ detail: `nats-server did not accept connections on port ${port} within 15 s` })
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill(signal)
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000)
    await exited
    clearTimeout(timer)
  }
  const monitorUrl = options.httpPort === undefined ? undefined : `http://127.0.0.1:${options.httpPort}`
  return { url: `nats://127.0.0.1:${port}`, port, process: child, storeDir: options.storeDir, monitorUrl, stop }
}
