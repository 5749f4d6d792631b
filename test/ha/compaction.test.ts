// Must show (issue 15, item 2): compaction purges the events behind a snapshot that no unfinished job needs;
// replay says what history it covers and gives the live digest; after a kill -9 of the coordinator a new one
// recovers from the snapshot exactly (same digest as the replay and as before the kill).
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"
import { SnapshotStore } from "../../src/nats/snapshot-store.ts"
import { EVENTS_STREAM } from "../../src/nats/subjects.ts"

type Info = { appliedSeq: number; streamLastSeq: number; digest: string; stream?: { firstSeq: number } }
type Replay = { digest: string; seq: number; history: { firstSeq: number; snapshotSeq?: number } }

describe("log compaction behind snapshots", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  const caughtUp = () =>
    waitFor("the coordinator to apply the whole log", async () => {
      const i = JSON.parse((await cluster.cli(["info", "--json"])).stdout) as Info
      return i.appliedSeq === i.streamLastSeq ? i : undefined
    })
  const replay = async (until?: number) =>
    JSON.parse((await cluster.cli(["replay", "--json", ...(until === undefined ? [] : ["--until", String(until)])])).stdout) as Replay

  it("purges behind a snapshot, keeps an unfinished job's history, and recovers exactly after kill -9", async () => {
    const coordinator = await cluster.coordinator()
    await cluster.worker("w1", ["--slots", "4"])
    const client = await cluster.client()
    expect(await client.run({ kind: "sum", from: "1", to: "100000", tasks: 20 })).toMatchObject({ state: "completed", result: "5000050000" })
    // A job waiting for its start time: unfinished, so its history from JobSubmitted on must stay.
    const { jobId: waiting } = await client.submitJob({ kind: "sum", from: "1", to: "10", tasks: 1, delayMs: 3_600_000 })
    expect(await client.run({ kind: "sumsq", from: "1", to: "1000", tasks: 10 })).toMatchObject({ state: "completed", result: "333833500" })
    await caughtUp()

    const first = await cluster.cli(["compact", "--json"])
    const bounded = JSON.parse(first.stdout) as { compacted: boolean; throughSeq: number; snapshotSeq: number }
    expect(bounded.compacted, first.stdout + first.stderr).toBe(true)
    const submittedSeq = (await client.replay()).state.jobs.get(waiting)?.submittedSeq
    expect(bounded.throughSeq).toBe((submittedSeq ?? -1) - 1)

    // Once it is cancelled, the next compaction purges through the snapshot.
    await client.cancel(waiting)
    await caughtUp()
    const second = JSON.parse((await cluster.cli(["compact", "--json"])).stdout) as { compacted: boolean; throughSeq: number; snapshotSeq: number }
    expect(second).toMatchObject({ compacted: true })
    expect(second.throughSeq).toBe(second.snapshotSeq)
    const stream = (await client.log.jsm.streams.info(EVENTS_STREAM)).state
    expect(stream.first_seq).toBe(second.throughSeq + 1)
    // No snapshot older than the purge point is kept: none could ever be used.
    const snapshots = await (await SnapshotStore.open(client.nc)).list()
    expect(snapshots.length).toBeGreaterThan(0)
    expect(snapshots.every((s) => s.seq >= second.throughSeq)).toBe(true)

    const live = await caughtUp()
    const replayed = await replay()
    expect(replayed.history).toEqual({ firstSeq: second.throughSeq + 1, snapshotSeq: second.snapshotSeq })
    expect(replayed.seq).toBe(live.appliedSeq)
    expect(replayed.digest).toBe(live.digest)
    const text = await cluster.cli(["replay"])
    expect(text.stdout).toContain(`history      events before #${second.throughSeq + 1} were compacted: from snapshot #${second.snapshotSeq}, then the log`)

    // kill -9, restart: recovery from the snapshot gives the same state at the same sequence.
    coordinator.process.kill("SIGKILL")
    await coordinator.exited
    await cluster.coordinator()
    const recovered = await caughtUp()
    expect((await replay(live.appliedSeq)).digest).toBe(live.digest)
    expect((await replay()).digest).toBe(recovered.digest)
    expect(recovered.stream?.firstSeq).toBe(second.throughSeq + 1)
    // And it goes on working.
    expect(await client.run({ kind: "sum", from: "1", to: "10", tasks: 2 })).toMatchObject({ state: "completed", result: "55" })
    expect((await replay()).digest).toBe((await caughtUp()).digest)
  }, 120_000)
})
