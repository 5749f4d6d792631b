// Every command that waits says what for, and none waits for something that cannot come: a replay past
// the log's end, a task no live worker runs, a --wait with no coordinator (issue 21).
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CLI_PATH } from "../../src/cli/local-cluster.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"
import { makeUserProject, type UserProject } from "../helpers/user-project.ts"

describe("no silent waits", () => {
  let cluster: TestCluster
  let project: UserProject
  beforeAll(async () => {
    project = makeUserProject()
    cluster = await startTestCluster()
  })
  afterAll(async () => {
    await cluster?.cleanup()
    project?.remove()
  })

  it("replays an empty log past its end at once and says so", async () => {
    const r = await cluster.cli(["replay", "--until", "999999"], { timeoutMs: 30_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain("replayed     0 events")
    expect(r.stderr).toContain("dtq: --until 999999 is past the log's end (#0); replayed to the end")
  })

  it("stops a --wait with no coordinator after the 5 s bound, naming the job and how to start one", async () => {
    const r = await cluster.cli(["sum", "1", "10", "--wait", "--json"], { timeoutMs: 40_000 })
    expect(r.code, r.stderr).toBe(3)
    expect(r.stdout).toBe("")
    const jobId = /waiting for job (\S+) to end/.exec(r.stderr)?.[1]
    expect(jobId, r.stderr).toBeDefined()
    expect(r.stderr).toContain(`dtq: no coordinator answered within 5 s; job ${jobId} is in the log and runs once one starts (dtq coordinator, or dtq up`)
  })

  it("keeps waiting with --keep-waiting, and ends when a coordinator comes", async () => {
    const child = spawn(process.execPath, [CLI_PATH, "sum", "1", "100", "--wait", "--keep-waiting", "--json", "--nats", cluster.url], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    const stderr: string[] = []
    let stdout = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    createInterface({ input: child.stderr }).on("line", (l) => stderr.push(l))
    try {
      await waitFor("the wait to say what it waits for", () => (stderr.some((l) => l.includes("waiting for job")) ? true : undefined), 20_000)
      await waitFor("the wait to say no coordinator answers", () => (stderr.some((l) => l.includes("waiting for one as asked")) ? true : undefined), 30_000)
      await cluster.coordinator()
      await cluster.worker("w1")
      expect(await exited, stderr.join("\n")).toBe(0)
      expect(JSON.parse(stdout)).toMatchObject({ state: "completed", result: "5050" })
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("refuses a task no live worker runs, naming the ones they do; queues it with --queue-unknown", async () => {
    await cluster.worker("typed", ["--tasks", project.file("tasks.ts")])
    const refused = await cluster.cli(["submit", "wordcount", "--input", "{}"])
    expect(refused.code, refused.stderr).toBe(2)
    expect(refused.stderr).toBe(
      "dtq: no live worker runs task wordcount (live workers run: flaky, nap, refuse, square, when); start one with dtq worker --tasks MODULE, or pass --queue-unknown to queue the job until one does\n"
    )
    const client = await cluster.client()
    await expect(client.submitTasks("wordcount", [{}])).rejects.toThrow("no live worker runs task wordcount (live workers run: flaky, nap, refuse, square, when)")

    const queued = await cluster.cli(["submit", "wordcount", "--input", "{}", "--queue-unknown"])
    expect(queued.code, queued.stderr).toBe(0)
    const jobId = /^submitted (\S+) \(task wordcount x 1\)$/m.exec(queued.stdout)?.[1] as string
    expect(queued.stderr).toContain(`no live worker runs task wordcount yet: it waits for one (dtq job ${jobId} says what it waits for)`)
    const shown = await waitFor("dtq job to show the queued job", async () => {
      const r = await cluster.cli(["job", jobId])
      return r.code === 0 ? r : undefined
    })
    expect(shown.stdout).toContain("waiting: no live worker runs task wordcount (start one with dtq worker --tasks MODULE)")
    const viaClient = await client.submitTasks("wordcount", [{}], { queueUnknown: true })
    await client.cancel(viaClient.jobId)
    await client.cancel(jobId)
  })

  it("replays a log past its end to its end", async () => {
    const client = await cluster.client()
    const last = await client.log.lastSeq()
    const r = await cluster.cli(["replay", "--until", String(last + 1000), "--json"], { timeoutMs: 30_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`dtq: --until ${last + 1000} is past the log's end (#`)
    const summary = JSON.parse(r.stdout) as { eventsApplied: number; lastSeq: number; untilPastEnd: boolean }
    expect(summary.untilPastEnd).toBe(true)
    expect(summary.lastSeq).toBeGreaterThanOrEqual(last)
  })
})
