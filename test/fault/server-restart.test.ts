// Must show (issue 3, item 4): the NATS server stopped and restarted mid-job (same store): exact result.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { rangeSum } from "../../src/domain/range-sum.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"

describe("a NATS server restart mid-job", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("is ridden through by coordinator, workers and a waiting producer", async () => {
    await cluster.coordinator()
    await cluster.worker("w1", ["--slots", "4", "--delay-rate", "1", "--delay-ms", "20"])
    await cluster.worker("w2", ["--slots", "4", "--delay-rate", "1", "--delay-ms", "20"])
    const client = await cluster.client()
    const tasks = 2000
    const { jobId } = await client.submitJob({ kind: "sum", from: "1", to: "99999999", tasks })
    // The waiting CLI must be waiting before the server goes: connected, its stream opened and its watch of
    // the job subscribed (a wait rides a restart through; a start-up that fails exits 3). On a starved
    // machine a start-up request can time out before the server goes: that start is retried, and said.
    let waiting: ReturnType<typeof cluster.cli> | undefined
    for (let start = 1; waiting === undefined; start++) {
      let exited: Awaited<ReturnType<typeof cluster.cli>> | undefined
      const cli = cluster.cli(["job", jobId, "--wait", "--json"], { timeoutMs: 90_000 })
      void cli.then((r) => (exited = r))
      const watching = await waitFor("the waiting producer to watch the job (or exit)", async () =>
        exited !== undefined ? false : (await cluster.subscriptions()).some((c) => c.name.startsWith("dtq-producer") && c.subjects.includes(`dtq.ev.*.${jobId}`)) || undefined
      , 60_000)
      if (watching) waiting = cli
      else if (start >= 3) throw new Error(`the waiting CLI exited before it watched the job, ${start} times; last: ${exited?.code} ${exited?.stderr}`)
      else console.log(`the waiting CLI exited at start-up (${exited?.code}: ${exited?.stderr.trim()}); starting it again`)
    }
    await waitFor("some progress", async () => ((await client.job(jobId))?.done ?? 0) >= 100 || undefined)
    await cluster.server.stop()
    await new Promise((r) => setTimeout(r, 1500))
    await cluster.restartServer()

    const outcome = await client.wait(jobId)
    expect(outcome).toMatchObject({ state: "completed", result: rangeSum("sum", 1n, 99999999n).toString() })
    const waited = await waiting
    expect(waited.code, waited.stderr).toBe(0)
    expect(JSON.parse(waited.stdout)).toMatchObject({ jobId, state: "completed" })
    const { state } = await client.replay()
    expect(state.jobs.get(jobId)?.done).toBe(tasks)
  })
})

describe("a worker cut off from the cluster", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("exits with a clear message after --offline-exit-ms; with 0 it keeps trying", async () => {
    await cluster.coordinator()
    const quitter = await cluster.worker("quitter", ["--offline-exit-ms", "1500"])
    const stayer = await cluster.worker("stayer", ["--offline-exit-ms", "0"])
    const stderr: string[] = []
    quitter.process.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()))
    await cluster.server.stop()
    expect(await quitter.exited).toBe(3)
    expect(stderr.join("")).toContain("dtq: worker quitter could not reach the cluster for 1500 ms; exiting (--offline-exit-ms 0 keeps trying)")
    await new Promise((r) => setTimeout(r, 500))
    expect(stayer.process.exitCode).toBeNull()
    await cluster.restartServer()
    const client = await cluster.client()
    const outcome = await client.run({ kind: "sum", from: "1", to: "100", tasks: 10 })
    expect(outcome).toMatchObject({ state: "completed", result: "5050" })
  })
})
