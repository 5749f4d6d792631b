// Must show (issue 2, item 3): after a mixed run, `dtq replay` prints the live coordinator's digest.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { stopChild } from "../../src/cli/local-cluster.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"

describe("replaying the log", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("rebuilds the live coordinator's state digest after completed, failed and cancelled jobs", async () => {
    await cluster.coordinator()
    const good = await cluster.worker("good", ["--slots", "4"])
    const client = await cluster.client()

    const completed = await client.run({ kind: "sum", from: "1", to: "1000000", tasks: 50 })
    expect(completed).toMatchObject({ state: "completed", result: "500000500000" })

    // Only a worker that fails every task is left: a job with 2 attempts per task fails.
    await stopChild(good)
    await cluster.worker("bad", ["--slots", "4", "--fail-rate", "1"])
    const failed = await client.run({ kind: "sum", from: "1", to: "100", tasks: 4, maxAttempts: 2, backoffMs: 10 })
    expect(failed.state).toBe("failed")
    expect(failed.reason).toMatch(/task \d+ failed \(gave up after 2 attempts\): failed \(injected\)/)

    // A job that keeps retrying with long backoff is cancelled mid-run.
    const { jobId } = await client.submitJob({ kind: "sumsq", from: "1", to: "1000", tasks: 10, maxAttempts: 50, backoffMs: 2000 })
    await waitFor("the job to run", async () => ((await client.job(jobId))?.failures ?? 0) > 0 || undefined)
    const cancel = await cluster.cli(["cancel", jobId])
    expect(cancel.code).toBe(0)
    const cancelled = await client.wait(jobId)
    expect(cancelled.state).toBe("cancelled")

    const info = await waitFor("the coordinator to apply the whole log", async () => {
      const r = await cluster.cli(["info", "--json"])
      const i = JSON.parse(r.stdout) as { appliedSeq: number; streamLastSeq: number; digest: string; summary: { jobs: Record<string, number> } }
      return i.appliedSeq === i.streamLastSeq ? i : undefined
    })
    expect(info.summary.jobs).toMatchObject({ completed: 1, failed: 1, cancelled: 1 })

    const replay = await cluster.cli(["replay", "--until", String(info.appliedSeq), "--json"])
    expect(replay.code).toBe(0)
    const replayed = JSON.parse(replay.stdout) as { digest: string; seq: number; jobs: Record<string, number> }
    expect(replayed.seq).toBe(info.appliedSeq)
    expect(replayed.jobs).toMatchObject({ completed: 1, failed: 1, cancelled: 1 })
    expect(replayed.digest).toBe(info.digest)

    // The human form prints the same digest.
    const text = await cluster.cli(["replay", "--until", String(info.appliedSeq)])
    expect(text.stdout).toContain(`digest       ${info.digest}`)
  })
})
