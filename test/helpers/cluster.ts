// Real components for tests: a nats-server per test file (free port, temp store), dtq roles as child
// processes, and the CLI. Everything started here is stopped by `cleanup()`, bounded in time.
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, startLocalServer, type LocalServer } from "../../src/nats/local-server.ts"
import { CLI_PATH, spawnRole, stopChild, type Child } from "../../src/cli/local-cluster.ts"
import { Client } from "../../src/producer/client.ts"
import type { NatsCredentials } from "../../src/nats/credentials.ts"

export type TestCluster = {
  readonly url: string
  readonly server: LocalServer
  readonly storeDir: string
  readonly coordinator: (args?: string[]) => Promise<Child>
  /** A coordinator that stands by (resolves once it has recovered and does not lead). */
  readonly standby: (args?: string[]) => Promise<Child>
  readonly worker: (id: string, args?: string[]) => Promise<Child>
  readonly client: () => Promise<Client>
  readonly cli: (args: string[], options?: RunOptions) => Promise<CliResult>
  /** Names of the clients connected to the server now (from its monitoring endpoint). */
  readonly connections: () => Promise<string[]>
  /** The subjects each connected client subscribes to now, by client name (the server's view). */
  readonly subscriptions: () => Promise<Array<{ name: string; subjects: string[] }>>
  /** Restarts the server on the same port and store (the same JetStream data). */
  readonly restartServer: () => Promise<void>
  readonly cleanup: () => Promise<void>
}

export type CliResult = { readonly code: number | null; readonly stdout: string; readonly stderr: string }
/** stdin, a kill-after bound, and the directory to run in (default: this process's). */
export type RunOptions = { readonly input?: string; readonly timeoutMs?: number; readonly cwd?: string; readonly env?: Record<string, string> }

const VERBOSE = process.env.DTQ_TEST_VERBOSE !== undefined

/** A secured server: its configuration and the credential flags of each role. */
export type TestSecurity = {
  readonly config: string
  readonly coordinator: ReadonlyArray<string>
  readonly worker: (id: string) => ReadonlyArray<string>
  /** For the CLI (producer) and cluster.client(). */
  readonly producer: ReadonlyArray<string>
  readonly clientCredentials: NatsCredentials
}

export const startTestCluster = async (security?: TestSecurity): Promise<TestCluster> => {
  const storeDir = mkdtempSync(join(tmpdir(), "dtq-test-"))
  const httpPort = await freePort()
  const config = security === undefined ? {} : { config: security.config, ...(process.env.DTQ_TEST_SERVER_LOG === undefined ? {} : { logFile: process.env.DTQ_TEST_SERVER_LOG }) }
  let server = await startLocalServer({ storeDir, httpPort, ...config })
  const children: Child[] = []
  const clients: Client[] = []
  const output = VERBOSE ? (name: string, line: string) => process.stderr.write(`${name}| ${line}\n`) : undefined
  const url = server.url
  const cluster: TestCluster = {
    url,
    storeDir,
    get server() {
      return server
    },
    coordinator: async (args = []) => {
      const child = await spawnRole("coordinator", ["coordinator", "--nats", url, ...(security?.coordinator ?? []), ...args], /leading as/, output)
      children.push(child)
      return child
    },
    standby: async (args = []) => {
      const child = await spawnRole("standby", ["coordinator", "--nats", url, ...(security?.coordinator ?? []), ...args], /standing by/, output)
      children.push(child)
      return child
    },
    worker: async (id, args = []) => {
      const child = await spawnRole(id, ["worker", "--nats", url, "--id", id, ...(security?.worker(id) ?? []), ...args], /joined with/, output)
      children.push(child)
      return child
    },
    client: async () => {
      const client = await Client.connect(url, security?.clientCredentials)
      clients.push(client)
      return client
    },
    cli: (args, options = {}) => runCli([...args, ...(args.includes("--nats") ? [] : ["--nats", url, ...(security?.producer ?? [])])], options),
    connections: async () => {
      const response = await fetch(`${server.monitorUrl}/connz?limit=1024`)
      const body = (await response.json()) as { connections?: Array<{ name?: string }> }
      return (body.connections ?? []).map((c) => c.name ?? "")
    },
    subscriptions: async () => {
      const response = await fetch(`${server.monitorUrl}/connz?limit=1024&subs=1`)
      const body = (await response.json()) as { connections?: Array<{ name?: string; subscriptions_list?: string[] }> }
      return (body.connections ?? []).map((c) => ({ name: c.name ?? "", subjects: c.subscriptions_list ?? [] }))
    },
    restartServer: async () => {
      await server.stop()
      server = await startLocalServer({ storeDir, port: server.port, httpPort, ...config })
    },
    cleanup: async () => {
      await Promise.all(clients.map((c) => c.close()))
      await Promise.all(children.map((c) => stopChild(c, 3000)))
      await server.stop()
      rmSync(storeDir, { recursive: true, force: true })
    }
  }
  return cluster
}

/** Runs `dtq ARGS` to its end (killed after `timeoutMs`). */
export const runCli = (args: string[], options: RunOptions = {}): Promise<CliResult> => runNode([CLI_PATH, ...args], options)

/** Runs `node ARGS` (this Node) to its end (killed after `timeoutMs`, default 60 s). */
export const runNode = (args: string[], options: RunOptions = {}): Promise<CliResult> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd })
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(options.input ?? "")
  })

/** A request that got no answer in time (a coordinator slow on a loaded machine): worth asking again. */
const isRequestTimeout = (error: unknown): boolean => error instanceof Error && (error.name === "TimeoutError" || error.message === "timeout")

/**
 * Polls `check` every `everyMs` until it returns a value, or fails after `timeoutMs`. A check whose
 * request timed out is no answer yet (the next poll asks again); any other error fails at once.
 */
export const waitFor = async <T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 50): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let timeouts = 0
  for (;;) {
    let value: T | undefined
    try {
      value = await check()
    } catch (error) {
      if (!isRequestTimeout(error)) throw error
      timeouts++
    }
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${timeouts > 0 ? ` (${timeouts} requests timed out)` : ""}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** `f`'s answer, asked again while its request times out (bounded by `timeoutMs`). */
export const patiently = <T>(what: string, f: () => Promise<T>, timeoutMs = 60_000): Promise<T> =>
  waitFor(what, async () => ({ value: await f() }), timeoutMs, 200).then((r) => r.value)
