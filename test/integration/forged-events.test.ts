// Must show (issue 14, item 2, open server): forged events written by a raw client cannot change a result,
// take the leader down or make anything loop. A result whose subject and payload disagree is set aside;
// elections with epoch 2^53-1 or current+5 are set aside and the leader keeps leading; a current+1 election
// costs at most a term change, after which a coordinator leads again and no running attempt is recorded as failed.
import { jetstream } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { encodeEvent } from "../../src/domain/event-codec.ts"
import type { DtqEvent } from "../../src/domain/events.ts"
import type { InfoReply } from "../../src/coordinator/control.ts"
import type { Client } from "../../src/producer/client.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"
import { logEvents } from "../helpers/log-audit.ts"

const envelope = <R extends "worker" | "coordinator">(role: R, id: string) => ({ id: `forged-${Math.random().toString(36).slice(2, 12)}`, v: 1 as const, ts: Date.now(), writer: { role, id } })
const sum = (a: bigint, b: bigint) => ((b * (b + 1n)) / 2n - ((a - 1n) * a) / 2n).toString()

describe("forged events on an open server", () => {
  let cluster: TestCluster
  let client: Client
  let raw: NatsConnection
  const forge = async (subject: string, event: DtqEvent) => (await jetstream(raw).publish(subject, encodeEvent(event))).seq

  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.coordinator(["--id", "c-real"])
    // Slow tasks, so that attempts are running while events are forged.
    await Promise.all(["w1", "w2"].map((id) => cluster.worker(id, ["--slots", "2", "--delay-rate", "1", "--delay-ms", "300"])))
    client = await cluster.client()
    raw = await connect({ servers: cluster.url })
  })
  afterAll(async () => {
    await raw?.close()
    await cluster?.cleanup()
  })

  const info = () => client.ask<InfoReply>("info").catch(() => undefined)
  const submit = async (a: number, b: number, tasks: number): Promise<string> => {
    const r = await cluster.cli(["sum", String(a), String(b), "--tasks", String(tasks), "--json"])
    expect(r.code, r.stderr).toBe(0)
    return (JSON.parse(r.stdout) as { jobId: string }).jobId
  }
  const runningLease = (jobId: string) =>
    waitFor(`a running lease of ${jobId}`, async () => {
      for (const e of (await logEvents(client)).reverse()) {
        if (e.type !== "TaskLeased") continue
        const lease = e.leases.find((l) => l.jobId === jobId)
        if (lease !== undefined) return { workerId: e.workerId, index: lease.index, attempt: lease.attempt }
      }
      return undefined
    })
  const finished = async (jobId: string) => {
    const r = await cluster.cli(["job", jobId, "--wait", "--json"], { timeoutMs: 90_000 })
    expect(r.code, r.stderr).toBe(0)
    return JSON.parse(r.stdout) as { state: string; result: string }
  }
  const elections = async () => (await logEvents(client)).filter((e) => e.type === "CoordinatorElected")

  it("a forged result on another subject and forged elections 2^53-1 and current+5 are set aside; the leader keeps leading", async () => {
    const before = await waitFor("the leader's info", info)
    const jobId = await submit(1, 1_000_000, 24)
    const lease = await runningLease(jobId)
    // The payload names the lease holder; the subject is not the holder's.
    const forgedResult: DtqEvent = {
      type: "TaskCompleted",
      ...envelope("worker", lease.workerId),
      workerId: lease.workerId,
      results: [{ jobId, index: lease.index, attempt: lease.attempt, result: "4370000000000", ms: 1 }]
    }
    await forge("dtq.ev.TaskCompleted.intruder", forgedResult)
    for (const epoch of [Number.MAX_SAFE_INTEGER, before.epoch + 5]) {
      await forge("dtq.ev.CoordinatorElected.term", { type: "CoordinatorElected", ...envelope("coordinator", "c-forger"), epoch, host: "x", pid: 1 })
    }
    const done = await finished(jobId)
    expect(done).toMatchObject({ state: "completed", result: sum(1n, 1_000_000n) })
    const after = await waitFor("the leader's info", info)
    expect(after).toMatchObject({ leader: "c-real", epoch: before.epoch })
    const { state } = await client.replay()
    const reasons = state.recentRejected.map((r) => r.reason)
    expect(reasons).toContain(`TaskCompleted of worker ${lease.workerId} arrived on dtq.ev.TaskCompleted.intruder, not on its own subject dtq.ev.TaskCompleted.${lease.workerId}`)
    expect(reasons).toContain(`CoordinatorElected: epoch ${Number.MAX_SAFE_INTEGER} is not the next epoch ${before.epoch + 1}`)
    expect(reasons).toContain(`CoordinatorElected: epoch ${before.epoch + 5} is not the next epoch ${before.epoch + 1}`)
    // Nothing looped: the log holds the first term's claim and the two forgeries, no retries.
    expect((await elections()).map((e) => e.epoch)).toEqual([1, Number.MAX_SAFE_INTEGER, before.epoch + 5])
    expect(state).toMatchObject({ epoch: before.epoch, leaderId: "c-real" })
    expect(state.jobs.get(jobId)?.failures).toBe(0)
  })

  it("workers ignore decisions of another term and cannot be locked out by a forged lease epoch", async () => {
    const before = await waitFor("the leader's info", info)
    // A lease with a huge epoch: before, a worker took its epoch as the term and ignored every real lease after it.
    const lease = { jobId: "j-forged", index: 0, attempt: 1, kind: "sum", input: {}, deadline: Date.now() + 60_000 }
    await forge("dtq.ev.TaskLeased.w1", { type: "TaskLeased", ...envelope("coordinator", "c-forger"), epoch: Number.MAX_SAFE_INTEGER, workerId: "w1", leases: [lease] })
    const jobId = await submit(1, 3_000_000, 24)
    await runningLease(jobId)
    // Decisions of a term that was never claimed: ending the job or taking attempts back must not stop work.
    await forge(`dtq.ev.JobCompleted.${jobId}`, { type: "JobCompleted", ...envelope("coordinator", "c-forger"), epoch: before.epoch + 7, jobId, result: "1" })
    for (const workerId of ["w1", "w2"]) {
      for (let index = 0; index < 24; index++) {
        await forge(`dtq.ev.TaskReclaimed.${workerId}`, { type: "TaskReclaimed", ...envelope("coordinator", "c-forger"), epoch: before.epoch - 1 || 99, workerId, jobId, index, attempt: 1, reason: "forged" })
      }
    }
    const done = await finished(jobId)
    expect(done).toMatchObject({ state: "completed", result: sum(1n, 3_000_000n) })
    const { state } = await client.replay()
    expect(state.jobs.get(jobId)?.failures).toBe(0)
    // w1 still took real leases after the forged one, and reported them.
    const results = (await logEvents(client)).filter((e) => e.type === "TaskCompleted" && e.workerId === "w1" && e.results.some((r) => r.jobId === jobId))
    expect(results.length).toBeGreaterThan(0)
  })

  it("a forged current+1 election costs one term change: a coordinator leads again, no attempt is recorded as failed", async () => {
    const before = await waitFor("the leader's info", info)
    const jobId = await submit(1, 2_000_000, 24)
    await runningLease(jobId)
    await forge("dtq.ev.CoordinatorElected.term", { type: "CoordinatorElected", ...envelope("coordinator", "c-forger"), epoch: before.epoch + 1, host: "x", pid: 1 })
    // Within the failover time (lease TTL 1 s plus a claim), the real coordinator leads the next term.
    const led = await waitFor("a coordinator leading again", async () => {
      const i = await info()
      return i !== undefined && i.epoch === before.epoch + 2 ? i : undefined
    }, 20_000)
    expect(led.leader).toBe("c-real")
    const done = await finished(jobId)
    expect(done).toMatchObject({ state: "completed", result: sum(1n, 2_000_000n) })
    const epochs = (await elections()).map((e) => e.epoch).filter((e) => e <= before.epoch + 2)
    expect(epochs).toEqual([1, 2, 3])
    const { state } = await client.replay()
    expect(state.jobs.get(jobId)?.failures).toBe(0)
  })
})
