// Must show (issue 15, item 2): finished jobs leave the live state after their retention (by age, and by
// count), as JobsExpired decisions in the log, and a replay gives the live coordinator's digest across it.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { stopChild } from "../../src/cli/local-cluster.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"
import { logEvents } from "../helpers/log-audit.ts"

type Info = { appliedSeq: number; streamLastSeq: number; digest: string }

describe("retention of finished jobs", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("expires finished jobs by age and by count, and replay agrees with the live digest across the expiry", async () => {
    // An hour by age; at most 2 finished jobs; one job asks to be kept for a day.
    const coordinator = await cluster.coordinator(["--retain-ms", "3600000", "--retain-jobs", "2"])
    await cluster.worker("w1", ["--slots", "4"])
    const client = await cluster.client()

    const kept = await client.run({ kind: "sum", from: "1", to: "100", tasks: 2, keepMs: 86_400_000 })
    const first = await client.run({ kind: "sum", from: "1", to: "1000", tasks: 2 })
    const second = await client.run({ kind: "sum", from: "1", to: "10000", tasks: 2 })
    expect([kept.state, first.state, second.state]).toEqual(["completed", "completed", "completed"])

    // Three finished, two kept: the oldest-ended (kept, whose keepMs covers only age) leaves by count.
    const byCount = await waitFor("a job to expire by count", async () => {
      const jobs = (await client.jobs()).value
      return jobs.retention?.expired === 1 ? jobs : undefined
    })
    expect(byCount.jobs.map((j) => j.jobId)).toEqual([first.jobId, second.jobId])
    expect(byCount.retention).toMatchObject({ retained: 2, expired: 1, policy: { maxAgeMs: 3_600_000, maxJobs: 2 } })
    const text = await cluster.cli(["jobs"])
    expect(text.stdout).toMatch(/2 finished job\(s\) retained, 1 expired \(kept .+ after they end, at most 2\)/)

    // The operator shortens the age: a coordinator started with 1 s expires both others by age.
    await stopChild(coordinator)
    await cluster.coordinator(["--retain-ms", "1000", "--retain-jobs", "10"])
    await waitFor("the others to expire by age", async () => ((await client.jobs()).value.retention?.expired === 3 ? true : undefined), 30_000)
    const expiries = (await logEvents(client)).filter((e) => e.type === "JobsExpired")
    expect(expiries.flatMap((e) => (e.type === "JobsExpired" ? e.jobIds : []))).toEqual([kept.jobId, first.jobId, second.jobId])
    expect(expiries[0]).toMatchObject({ reason: "more than 2 finished jobs retained" })
    expect(expiries.at(-1)?.type === "JobsExpired" && expiries.at(-1)?.reason).toMatch(/ended more than their retention ago/)

    // A job submitted after the expiry still runs; `dtq job` of an expired one says it is unknown.
    const after = await client.run({ kind: "sum", from: "1", to: "10", tasks: 1, keepMs: 86_400_000 })
    expect(after).toMatchObject({ state: "completed", result: "55" })
    expect(await client.job(kept.jobId)).toBeUndefined()

    const info = await waitFor("the coordinator to apply the whole log", async () => {
      const i = JSON.parse((await cluster.cli(["info", "--json"])).stdout) as Info
      return i.appliedSeq === i.streamLastSeq ? i : undefined
    })
    const replay = JSON.parse((await cluster.cli(["replay", "--until", String(info.appliedSeq), "--json"])).stdout) as { digest: string; seq: number }
    expect(replay.seq).toBe(info.appliedSeq)
    expect(replay.digest).toBe(info.digest)
    // Replayed just before the last expiry, the state still holds the jobs it expired: the expiry is in the log.
    const lastExpiry = await client.log.lastSeqOn("dtq.ev.JobsExpired.retention")
    const before = await client.replay(lastExpiry - 1)
    expect(before.state.jobs.has(second.jobId)).toBe(true)
  }, 90_000)
})
