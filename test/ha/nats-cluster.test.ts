// Must show (issue 4, item 4): on a three-server NATS cluster with R3 streams, one nats-server killed
// mid-job: the job completes with the exact result.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { spawnRole, stopChild, type Child } from "../../src/cli/local-cluster.ts"
import { rangeSum } from "../../src/domain/range-sum.ts"
import { startLocalNatsCluster, type LocalNatsCluster } from "../../src/nats/local-nats-cluster.ts"
import { Client } from "../../src/producer/client.ts"
import { EVENTS_STREAM } from "../../src/nats/subjects.ts"
import { decodeEvent } from "../../src/domain/event-codec.ts"
import { runCli, waitFor } from "../helpers/cluster.ts"

const output = process.env.DTQ_TEST_VERBOSE === undefined ? undefined : (name: string, line: string) => process.stderr.write(`${name}| ${line}\n`)

describe("a three-server NATS cluster", () => {
  const baseDir = mkdtempSync(join(tmpdir(), "dtq-nc3-"))
  let nats: LocalNatsCluster | undefined
  const children: Child[] = []
  let client: Client | undefined
  afterAll(async () => {
    await client?.close()
    await Promise.all(children.map((c) => stopChild(c, 3000)))
    await nats?.stop()
    rmSync(baseDir, { recursive: true, force: true })
  })

  it("keeps a job going when one nats-server is killed: R3 streams, exact result", async () => {
    nats = await startLocalNatsCluster({ size: 3, baseDir })
    const url = nats.url
    children.push(await spawnRole("coordinator", ["coordinator", "--nats", url, "--replicas", "3"], /leading as/, output))
    children.push(await spawnRole("standby", ["coordinator", "--nats", url, "--replicas", "3"], /standing by/, output))
    for (const id of ["w1", "w2"]) {
      children.push(await spawnRole(id, ["worker", "--nats", url, "--id", id, "--slots", "8", "--delay-rate", "1", "--delay-ms", "5"], /joined with/, output))
    }
    client = await Client.connect(url)
    const stream = await client.log.jsm.streams.info(EVENTS_STREAM)
    expect(stream.config.num_replicas).toBe(3)
    expect(stream.cluster?.replicas?.length).toBe(2)

    const tasks = 4000
    const { jobId } = await client.submitJob({ kind: "sum", from: "-4000000", to: "123456789", tasks })
    await waitFor("a quarter of the job", async () => ((await client!.job(jobId))?.done ?? 0) >= tasks / 4 || undefined)
    // Kill the server that leads the stream: the hardest one to lose.
    const leaderName = (await client.log.jsm.streams.info(EVENTS_STREAM)).cluster?.leader
    const victim = nats.servers.find((_, i) => `n${i + 1}` === leaderName) ?? nats.servers[0]!
    victim.process.kill("SIGKILL")

    const outcome = await client.wait(jobId)
    expect(outcome, outcome.reason).toMatchObject({ state: "completed", result: rangeSum("sum", -4_000_000n, 123_456_789n).toString() })
    const { state } = await client.replay()
    expect(state.jobs.get(jobId)?.done).toBe(tasks)
    // Losing the server that leads the leader-lease bucket can stall renewal past the TTL: the standby
    // then takes over, and the old leader's in-flight decisions are fenced. Those, and results of workers
    // that acted on a fenced lease, are the only events that may be set aside.
    const fencedLeases = new Set<string>()
    const fencedSeqs = new Set(state.recentRejected.filter((r) => /fenced: epoch/.test(r.reason)).map((r) => r.seq))
    await client.log.readRange(1, undefined, (m) => {
      const d = decodeEvent(m.data)
      if (d.ok && d.event.type === "TaskLeased" && fencedSeqs.has(m.seq)) {
        for (const l of d.event.leases) fencedLeases.add(`${l.index}.${l.attempt}`)
      }
    })
    expect(state.rejectedCount).toBe(state.recentRejected.length) // all reasons are in view
    for (const r of state.recentRejected) {
      if (fencedSeqs.has(r.seq)) continue
      const m = /result for task (\d+) attempt (\d+) of /.exec(r.reason)
      expect(m !== null && fencedLeases.has(`${m[1]}.${m[2]}`), r.reason).toBe(true)
    }
    const info = JSON.parse((await runCli(["info", "--json", "--nats", url])).stdout) as { streamReplicas: number; standbys: unknown[] }
    expect(info.streamReplicas).toBe(3)
    expect(info.standbys).toHaveLength(1)
  })
})
