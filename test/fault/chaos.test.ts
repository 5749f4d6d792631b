// Must show (issue 3, item 1): workers SIGKILLed and replaced again and again during a 5,000-task job:
// the result is exact, every task is accounted for in the log, none is counted twice.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { rangeSum } from "../../src/domain/range-sum.ts"
import { TaskStatus } from "../../src/projections/state.ts"
import type { Child } from "../../src/cli/local-cluster.ts"
import { auditJob } from "../helpers/log-audit.ts"
import { startTestCluster, type TestCluster } from "../helpers/cluster.ts"

describe("chaos: workers killed with SIGKILL and replaced mid-job", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("finishes a 5,000-task job exactly, every task accounted for", async () => {
    await cluster.coordinator(["--worker-timeout-ms", "1000"])
    const workerArgs = ["--slots", "8", "--delay-rate", "1", "--delay-ms", "25"]
    let next = 1
    const live: Child[] = []
    const spawn = async () => live.push(await cluster.worker(`chaos-${next++}`, workerArgs))
    await Promise.all([spawn(), spawn(), spawn()])
    const client = await cluster.client()
    const tasks = 5000
    const { jobId } = await client.submitJob({ kind: "sumsq", from: "-77777", to: "9999999", tasks, maxAttempts: 20, backoffMs: 10 })

    let kills = 0
    for (let round = 0; round < 6; round++) {
      await new Promise((r) => setTimeout(r, 500))
      const job = await client.job(jobId)
      if (job?.state !== "running") break
      const victim = live.splice(round % live.length, 1)[0] as Child
      victim.process.kill("SIGKILL")
      await victim.exited
      kills++
      await spawn()
    }
    expect(kills).toBeGreaterThanOrEqual(3)

    const outcome = await client.wait(jobId)
    expect(outcome).toMatchObject({ state: "completed", result: rangeSum("sumsq", -77777n, 9999999n).toString() })

    const { state } = await client.replay()
    const job = state.jobs.get(jobId)
    expect(job?.done).toBe(tasks)
    expect(job?.status.every((s) => s === TaskStatus.Done)).toBe(true)
    expect(job?.sum).toBe(rangeSum("sumsq", -77777n, 9999999n))
    expect([...state.workers.values()].filter((w) => w.phase === "lost").length).toBe(kills)

    // The log accounts for every task: leased at least once, at least one result; the fold counted one.
    const audit = await auditJob(client, jobId)
    for (let index = 0; index < tasks; index++) {
      const leased = audit.leases.get(index) ?? []
      expect(leased.length, `task ${index} leases`).toBeGreaterThanOrEqual(1)
      expect(leased, `task ${index} attempts in order`).toEqual(leased.map((_, i) => i + 1))
      expect((audit.results.get(index) ?? []).length, `task ${index} results`).toBeGreaterThanOrEqual(1)
    }
    const reported = [...audit.results.values()].reduce((n, r) => n + r.length, 0)
    // Every extra result is a recorded duplicate; nothing was set aside (the reasons, should it fail).
    const setAside = `set aside: ${JSON.stringify(state.recentRejected.slice(-10))}`
    expect(reported - tasks, setAside).toBe(job?.duplicates)
    expect(state.rejectedCount, setAside).toBe(0)
  })
})
