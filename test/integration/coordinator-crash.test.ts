// Must show (issue 2, item 2): kill -9 of the coordinator mid-job loses nothing and counts nothing twice.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { TaskStatus } from "../../src/projections/state.ts"
import { rangeSum } from "../../src/domain/range-sum.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"

describe("a coordinator killed with SIGKILL mid-job", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("is replaced by a new one that finishes a 10,000-task job exactly", async () => {
    const first = await cluster.coordinator()
    // Each task takes ~3 ms on 2 x 8 slots: the job runs for a few seconds, long enough to kill into.
    await cluster.worker("w1", ["--slots", "8", "--delay-rate", "1", "--delay-ms", "3"])
    await cluster.worker("w2", ["--slots", "8", "--delay-rate", "1", "--delay-ms", "3"])
    const client = await cluster.client()
    const tasks = 10_000
    const { jobId } = await client.submitJob({ kind: "sumsq", from: "1", to: "123456789", tasks })

    await waitFor("a fifth of the job done", async () => {
      const job = await client.job(jobId)
      return job !== undefined && job.done >= tasks / 5 ? job : undefined
    })
    first.process.kill("SIGKILL")
    await first.exited
    // Workers keep working and reporting into the log while no coordinator runs.
    await new Promise((r) => setTimeout(r, 500))

    const second = await cluster.coordinator()
    await waitFor("a second kill point", async () => {
      const job = await client.job(jobId)
      return job !== undefined && job.done >= tasks / 2 ? job : undefined
    })
    second.process.kill("SIGKILL")
    await second.exited
    await cluster.coordinator()

    const outcome = await client.wait(jobId)
    expect(outcome.state).toBe("completed")
    expect(outcome.result).toBe(rangeSum("sumsq", 1n, 123456789n).toString())

    // The log alone tells the same story: every task done exactly once, three terms.
    const { state } = await client.replay()
    const job = state.jobs.get(jobId)
    expect(job?.phase).toBe("completed")
    expect(job?.done).toBe(tasks)
    expect(job?.sum).toBe(rangeSum("sumsq", 1n, 123456789n))
    expect(job?.status.every((s) => s === TaskStatus.Done)).toBe(true)
    expect(state.epoch).toBe(3)
    expect(state.rejectedCount - state.fencedCount).toBe(0)
  })
})
