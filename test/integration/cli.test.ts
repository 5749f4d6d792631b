// The command line as a user meets it: dtq up and Ctrl-C, the interactive prompt, chat, events.
import { spawn, execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CLI_PATH } from "../../src/cli/local-cluster.ts"
import { freePort } from "../../src/nats/local-server.ts"
import { rangeSum } from "../../src/domain/range-sum.ts"
import { runCli, startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"

const processesMentioning = (text: string): string[] =>
  execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes(text) && !line.includes("ps -eo"))

describe("dtq up", () => {
  it("runs a whole cluster until SIGINT, then leaves no process behind", async () => {
    const store = mkdtempSync(join(tmpdir(), "dtq-up-"))
    const port = await freePort()
    const up = spawn(process.execPath, [CLI_PATH, "up", "--workers", "2", "--port", String(port), "--store", store], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((r) => up.once("exit", (code) => r(code)))
    try {
      const lines: string[] = []
      createInterface({ input: up.stdout }).on("line", (l) => lines.push(l))
      await waitFor("dtq up to be ready", () => (lines.some((l) => l.startsWith("dtq is up")) ? true : undefined), 30_000)
      expect(processesMentioning(store).length).toBeGreaterThanOrEqual(1) // nats-server with its store
      const url = `nats://127.0.0.1:${port}`
      const r = await runCli(["sum", "1", "1000", "--wait", "--json", "--nats", url])
      expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: "500500" })
      const workers = JSON.parse((await runCli(["workers", "--json", "--nats", url])).stdout).workers as Array<{ workerId: string }>
      expect(workers.map((w) => w.workerId).sort()).toEqual(["w1", "w2"])

      up.kill("SIGINT")
      expect(await exited).toBe(0)
      expect(lines.at(-1)).toBe("stopped.")
      expect(processesMentioning(store)).toEqual([])
      expect(processesMentioning(`--nats ${url}`)).toEqual([])
      const after = await runCli(["jobs", "--nats", url], { timeoutMs: 20_000 })
      expect(after.code).toBe(3)
    } finally {
      up.kill("SIGKILL")
      rmSync(store, { recursive: true, force: true })
    }
  })

  it("runs three nats-servers, a standby and R3 streams with --nats-cluster 3, and stops them all", async () => {
    const store = mkdtempSync(join(tmpdir(), "dtq-up3-"))
    const up = spawn(process.execPath, [CLI_PATH, "up", "--nats-cluster", "3", "--standbys", "1", "--workers", "1", "--store", store], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((r) => up.once("exit", (code) => r(code)))
    try {
      const lines: string[] = []
      createInterface({ input: up.stdout }).on("line", (l) => lines.push(l))
      await waitFor("dtq up to be ready", () => (lines.some((l) => l.startsWith("dtq is up")) ? true : undefined), 60_000)
      const url = /export DTQ_NATS_URL=(\S+)/.exec(lines.join("\n"))?.[1] as string
      expect(url.split(",")).toHaveLength(3)
      const r = await runCli(["sumsq", "1", "1000", "--wait", "--json", "--nats", url])
      expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: "333833500" })
      const info = JSON.parse((await runCli(["info", "--json", "--nats", url])).stdout) as { streamReplicas: number; standbys: unknown[] }
      expect(info.streamReplicas).toBe(3)
      expect(info.standbys).toHaveLength(1)
      up.kill("SIGINT")
      expect(await exited).toBe(0)
      expect(processesMentioning(store)).toEqual([])
    } finally {
      up.kill("SIGKILL")
      rmSync(store, { recursive: true, force: true })
    }
  })

  it("says how to install nats-server when it is missing", async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI_PATH, "up"], { env: { ...process.env, DTQ_NATS_SERVER: "/nonexistent/nats-server" } })
      let stderr = ""
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      child.on("exit", (code) => resolve({ code, stderr }))
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^dtq: DTQ_NATS_SERVER=\/nonexistent\/nats-server does not exist; install it with `sudo apt-get install nats-server`/)
  })
})

describe("the producer prompt and the log", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.coordinator(["--worker-timeout-ms", "1500"])
    await cluster.worker("w1", ["--slots", "4"])
  })
  afterAll(async () => cluster?.cleanup())

  it("accepts the classic pipe syntax and prints results when jobs end", async () => {
    const input = ["help", "sum 1|1000000", "sumsq 1|1000|tasks=7", "sum 3|1", "sum 1|2|bogus=1", "workers verbose", "list", "exit", "sum 1|5"].join("\n")
    const r = await cluster.cli(["producer"], { input })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("commands (parts separated by | or spaces)")
    expect(r.stdout).toMatch(/submitted j-\w+: sum of 1\.\.1000000 in 100 task\(s\)/)
    expect(r.stdout).toMatch(/submitted j-\w+: sumsq of 1\.\.1000 in 7 task\(s\)/)
    expect(r.stdout).toContain("bad job spec: from: the range is empty: from (3) is greater than to (1)")
    expect(r.stdout).toContain("bad job spec: bogus: unknown option")
    expect(r.stdout).toMatch(/w1\s+live\s+4/)
    expect(r.stdout).toMatch(/sum\s+w1/)
    expect(r.stdout).toMatch(/j-\w+ completed in .*: 500000500000/)
    expect(r.stdout).toMatch(/j-\w+ completed in .*: 333833500/)
    expect(r.stdout).not.toContain("sum of 1..5") // nothing after exit runs
  })

  it("delivers chat to every worker and prompt", async () => {
    const prompt = spawn(process.execPath, [CLI_PATH, "producer", "--nats", cluster.url], { stdio: ["pipe", "pipe", "pipe"] })
    const lines: string[] = []
    createInterface({ input: prompt.stdout }).on("line", (l) => lines.push(l))
    try {
      // A condition, not a sleep: the prompt has connected and subscribed to the chat subject.
      await waitFor("the prompt to subscribe to chat", async () =>
        (await cluster.subscriptions()).some((c) => c.name.startsWith("dtq-producer") && c.subjects.includes("dtq.chat")) || undefined
      , 60_000)
      const r = await cluster.cli(["chat", "hello", "from", "the", "tests", "--from", "tester"])
      expect(r.code).toBe(0)
      await waitFor("the chat line", () => (lines.includes("[chat] tester: hello from the tests") ? true : undefined), 10_000)
    } finally {
      prompt.stdin.end("exit\n")
      prompt.kill("SIGKILL")
    }
  })

  it("re-leases the tasks of a worker killed with SIGKILL", async () => {
    const doomed = await cluster.worker("doomed", ["--slots", "4", "--delay-rate", "1", "--delay-ms", "5000"])
    const client = await cluster.client()
    // Speculation off: this is about liveness (WorkerLost and re-leasing), not about copies of stragglers.
    const { jobId } = await client.submitJob({ kind: "sum", from: "1", to: "1000000", tasks: 40, speculation: false })
    await waitFor("the doomed worker to hold tasks", async () => {
      const r = await client.ask<{ workers: Array<{ workerId: string; inFlight: number }> }>("workers")
      return r.workers.find((w) => w.workerId === "doomed" && w.inFlight > 0)
    })
    doomed.process.kill("SIGKILL")
    const outcome = await client.wait(jobId)
    expect(outcome).toMatchObject({ state: "completed", result: rangeSum("sum", 1n, 1000000n).toString() })
    const events = (await cluster.cli(["events"])).stdout
    expect(events).toMatch(/WorkerLost\s+coordinator\/\S+\s+doomed: no heartbeat for \d+ ms/)
    const { state } = await client.replay()
    expect(state.workers.get("doomed")?.phase).toBe("lost")
    expect(state.jobs.get(jobId)?.failures).toBeGreaterThan(0)
  })

  it("prints every event on one readable line, and --json as one object per line", async () => {
    const text = (await cluster.cli(["events", "--limit", "3"])).stdout.trim().split("\n")
    expect(text).toHaveLength(3)
    expect(text[0]).toMatch(/^#1 \d\d:\d\d:\d\d\.\d{3} CoordinatorStarted\s+coordinator\/(c-\w+)\s+c-\w+ on \S+ pid \d+$/)
    expect(text[1]).toMatch(/^#2 \d\d:\d\d:\d\d\.\d{3} CoordinatorElected\s+coordinator\/c-\w+\s+epoch 1 on /)
    const json = (await cluster.cli(["events", "--json", "--limit", "3"])).stdout.trim().split("\n").map((l) => JSON.parse(l))
    expect(json.map((e) => e.seq)).toEqual([1, 2, 3])
    expect(json.map((e) => e.event.type).slice(0, 2)).toEqual(["CoordinatorStarted", "CoordinatorElected"])
  })
})
