// Failed-job handling against a real cluster: filter jobs by state, retry a failed job once its fault is
// gone (a new job linked to the old one in the log), and list the distinct errors (issue 21).
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { stopChild } from "../../src/cli/local-cluster.ts"
import { decodeEvent } from "../../src/domain/event-codec.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"

describe("failed jobs", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.coordinator()
  })
  afterAll(async () => cluster?.cleanup())

  it("filters jobs by state, retries a failed job once the fault is gone, and lists its errors", async () => {
    const faulty = await cluster.worker("faulty", ["--fatal-rate", "1"])
    const failed = await cluster.cli(["sum", "1", "100", "--tasks", "2", "--name", "nightly-report", "--wait", "--json"])
    expect(failed.code, failed.stderr).toBe(1)
    const failedId = (JSON.parse(failed.stdout) as { jobId: string; state: string }).jobId
    expect(JSON.parse(failed.stdout)).toMatchObject({ state: "failed" })
    await stopChild(faulty)
    await cluster.worker("healthy")
    const ok = await cluster.cli(["sum", "1", "10", "--wait", "--json"])
    expect(ok.code, ok.stderr).toBe(0)
    const okId = (JSON.parse(ok.stdout) as { jobId: string }).jobId

    const onlyFailed = JSON.parse((await cluster.cli(["jobs", "--state", "failed", "--json"])).stdout) as { jobs: Array<{ jobId: string }>; total: number }
    expect(onlyFailed).toMatchObject({ total: 1, jobs: [{ jobId: failedId }] })
    const completed = JSON.parse((await cluster.cli(["jobs", "--state", "completed", "--kind", "sum", "--json"])).stdout) as { jobs: Array<{ jobId: string }> }
    expect(completed.jobs.map((j) => j.jobId)).toEqual([okId])
    const byName = JSON.parse((await cluster.cli(["jobs", "--name", "NIGHTLY", "--since", "1h", "--json"])).stdout) as { jobs: Array<{ jobId: string }> }
    expect(byName.jobs.map((j) => j.jobId)).toEqual([failedId])
    const client = await cluster.client()
    expect((await client.jobs({ state: "failed" })).value.jobs.map((j) => j.jobId)).toEqual([failedId])
    const badState = await cluster.cli(["jobs", "--state", "broken"])
    expect(badState.code).toBe(2)
    expect(badState.stderr).toBe("dtq: --state must be one of queued, running, completed, failed, cancelled, rejected, not \"broken\"\n")

    const errors = await cluster.cli(["errors", failedId, "--json"])
    const groups = (JSON.parse(errors.stdout) as { errors: Array<{ error: string; retryable: boolean; count: number; jobs: string[]; attempts: Array<{ jobId: string; attempt: number; workerId: string }> }> }).errors
    expect(groups).toHaveLength(1)
    expect(groups[0]).toMatchObject({ error: "failed for good (injected)", retryable: false, jobs: [failedId] })
    expect(groups[0]!.count).toBeGreaterThanOrEqual(1)
    expect(groups[0]!.attempts.every((a) => a.jobId === failedId && a.workerId === "faulty" && a.attempt === 1)).toBe(true)
    const text = await cluster.cli(["errors"])
    expect(text.stdout).toMatch(/^\d+ x not retryable: failed for good \(injected\)$/m)

    const retried = await cluster.cli(["retry", failedId, "--wait", "--json"])
    expect(retried.code, retried.stderr).toBe(0)
    const outcome = JSON.parse(retried.stdout) as { jobId: string; state: string; result: string }
    expect(outcome).toMatchObject({ state: "completed", result: "5050" })
    expect(outcome.jobId).not.toBe(failedId)
    let link: unknown
    await client.log.readRange(1, undefined, (m) => {
      const d = decodeEvent(m.data)
      if (d.ok && d.event.type === "JobSubmitted" && d.event.jobId === outcome.jobId) link = d.event.retryOf
    })
    expect(link).toBe(failedId)
    const notFailed = await cluster.cli(["retry", okId])
    expect(notFailed.code).toBe(2)
    expect(notFailed.stderr).toContain(`job ${okId} is completed; only a failed or cancelled job can be retried`)
    await waitFor("the retry to be listed as completed", async () =>
      (await client.jobs({ state: "completed" })).value.jobs.some((j) => j.jobId === outcome.jobId) || undefined
    )
  })
})
