// Must show (issue 22): workers whose wall clocks are 30 s ahead and 30 s behind the stream's. A job of
// progress-beating tasks longer than their lease completes with no reclaim; the SIGKILLed workers' leases are
// reclaimed within leaseMs + one beat interval of stream time (read from the log's stored timestamps); the live
// coordinator's digest equals a replay's; `dtq workers` and the coordinator's log warn about both clocks.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeEvent } from "../../src/domain/event-codec.ts"
import type { DtqEvent } from "../../src/domain/events.ts"
import { spawnRole, stopChild, type Child } from "../../src/cli/local-cluster.ts"
import { CLOCK_SKEW_WARN_MS } from "../../src/projections/clock-skew.ts"
import type { Client } from "../../src/producer/client.ts"
import type { InfoReply } from "../../src/coordinator/control.ts"
import type { WorkerView } from "../../src/projections/views.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"
import { makeUserProject, type UserProject } from "../helpers/user-project.ts"

// Four beat intervals: a lease must outlive a late delivery of the lease and a slow beat on a busy machine.
const LEASE_MS = 4000
const BEAT_MS = 1000 // the worker's default progress beat interval (WorkerOptions.progressMs)
const OFFSET_MS = 30_000
const WORKERS = { ahead: OFFSET_MS, behind: -OFFSET_MS } as const

type Stored = { readonly seq: number; readonly time: number; readonly event: DtqEvent }

/** Every decodable event with the time the stream stored it. */
const storedEvents = async (client: Client): Promise<Stored[]> => {
  const out: Stored[] = []
  await client.log.readRange(1, undefined, (m) => {
    const d = decodeEvent(m.data)
    if (d.ok) out.push({ seq: m.seq, time: m.time, event: d.event })
  })
  return out
}

const napJob = (ms: number, tasks: number) => ({
  kind: "task",
  task: "nap",
  inputs: Array.from({ length: tasks }, (_, i) => ({ ms, label: `t${i}` })),
  leaseMs: LEASE_MS,
  speculation: false
})

describe("workers whose clocks are 30 s off the stream's", () => {
  let cluster: TestCluster
  let project: UserProject
  let coordinator: Child
  let client: Client
  const coordinatorLog: string[] = []
  const workers = new Map<string, Child>()

  beforeAll(async () => {
    project = makeUserProject()
    cluster = await startTestCluster()
    // Silent workers are declared lost only after a minute: here the lease alone reclaims a killed worker's tasks.
    coordinator = await spawnRole("coordinator", ["coordinator", "--nats", cluster.url, "--worker-timeout-ms", "60000"], /leading as/, (_n, line) => coordinatorLog.push(line))
    for (const [id, offset] of Object.entries(WORKERS)) {
      const args = ["--slots", "2", "--prefetch", "0", "--tasks", project.file("tasks.ts"), "--clock-offset-ms", String(offset)]
      workers.set(id, await cluster.worker(id, args))
    }
    client = await cluster.client()
  })
  afterAll(async () => {
    if (coordinator !== undefined) await stopChild(coordinator, 3000)
    await cluster?.cleanup()
    project?.remove()
  })

  it("run progress-beating tasks longer than their lease to the end, with no reclaim", async () => {
    // One task per slot, each running for 2.25 leases: only its beats keep it.
    const { jobId } = await client.submitJob(napJob(9000, 4))
    const outcome = await client.wait(jobId)
    expect(outcome.state, JSON.stringify(outcome)).toBe("completed")
    const stored = await storedEvents(client)
    const events = stored.map((s) => s.event)
    const reclaims = events.filter((e) => e.type === "TaskReclaimed" || e.type === "WorkerLost")
    if (reclaims.length > 0) console.log(stored.map((s) => `#${s.seq} ${s.time} ${s.event.type} ${s.event.writer.id} ts${s.event.ts - s.time} ${JSON.stringify("beats" in s.event ? s.event.beats : "leases" in s.event ? s.event.leases.map((l) => [l.index, l.deadline - s.time]) : "")}`).join("\n"))
    expect(reclaims, "spurious reclaims").toEqual([])
    const leases = events.flatMap((e) => (e.type === "TaskLeased" ? e.leases.filter((l) => l.jobId === jobId) : []))
    expect(leases.map((l) => l.attempt)).toEqual([1, 1, 1, 1])
    // Both offset workers ran tasks of it, and each renewed its leases by beats.
    const ran = new Set(events.flatMap((e) => (e.type === "TaskCompleted" ? [e.workerId] : [])))
    expect([...ran].sort()).toEqual(["ahead", "behind"])
    for (const id of Object.keys(WORKERS)) {
      expect(events.some((e) => e.type === "ProgressBeat" && e.workerId === id && e.beats.some((b) => b.jobId === jobId)), `beats of ${id}`).toBe(true)
    }
  })

  it("report both clocks' offsets in dtq workers and warn about them, in its table and in the coordinator's log", async () => {
    const r = await cluster.cli(["workers", "--json"])
    expect(r.code, r.stderr).toBe(0)
    const views = (JSON.parse(r.stdout) as { workers: WorkerView[] }).workers
    for (const [id, offset] of Object.entries(WORKERS)) {
      const w = views.find((v) => v.workerId === id)
      // Observed = offset - publish latency: never above the true offset, and within the bound of it.
      expect(w?.clockOffsetMs, `${id}'s offset`).toBeLessThanOrEqual(offset)
      expect(w?.clockOffsetMs, `${id}'s offset`).toBeGreaterThan(offset - CLOCK_SKEW_WARN_MS)
      expect(w?.clockSkewed).toBe(true)
    }
    const text = await cluster.cli(["workers"])
    expect(text.stdout).toMatch(/warning: ahead's clock is \+\d+\.\d s ! off the stream's/)
    expect(text.stdout).toMatch(/warning: behind's clock is -\d+\.\d s ! off the stream's/)
    await waitFor("the coordinator's warnings", () =>
      ["ahead", "behind"].every((id) => coordinatorLog.some((l) => l.includes(`warning: worker ${id}'s clock is`))) || undefined, 10_000)
  })

  it("have their leases reclaimed within leaseMs + one beat interval of stream time when SIGKILLed", async () => {
    const { jobId } = await client.submitJob(napJob(60_000, 4))
    // Each worker runs two of the tasks and has renewed them by a beat at least once.
    await waitFor("both workers to beat their leases of the job", async () => {
      const events = (await storedEvents(client)).map((s) => s.event)
      const beating = (id: string) => events.some((e) => e.type === "ProgressBeat" && e.workerId === id && e.beats.filter((b) => b.jobId === jobId).length === 2)
      return beating("ahead") && beating("behind") ? true : undefined
    }, 30_000, 200)
    for (const id of Object.keys(WORKERS)) workers.get(id)?.process.kill("SIGKILL")
    await Promise.all(Object.keys(WORKERS).map((id) => workers.get(id)?.exited))

    const log = await waitFor("all four attempts reclaimed", async () => {
      const log = await storedEvents(client)
      const reclaimed = log.filter((s) => s.event.type === "TaskReclaimed" && s.event.jobId === jobId)
      return reclaimed.length === 4 ? log : undefined
    }, 30_000, 200)

    const figures: string[] = []
    for (const s of log) {
      if (s.event.type !== "TaskReclaimed" || s.event.jobId !== jobId) continue
      const { workerId, index, attempt, reason } = s.event
      expect(reason).toMatch(/^lease expired/)
      // The worker's last sign of life for this attempt: its last stored beat of it.
      const beats = log.filter((b) => b.event.type === "ProgressBeat" && b.event.workerId === workerId && b.event.beats.some((x) => x.jobId === jobId && x.index === index && x.attempt === attempt))
      const lastBeat = beats.at(-1)
      expect(lastBeat, `a beat of task ${index} by ${workerId}`).toBeDefined()
      const afterBeat = s.time - (lastBeat as Stored).time
      figures.push(`${workerId} task ${index}: reclaimed ${Math.round(afterBeat)} ms after its last beat (stream time)`)
      // Never before the lease ran out in stream time, and no later than one beat interval after that:
      // the worker died at most one beat interval after its last beat, so from its death this is within
      // leaseMs + the beat interval.
      expect(afterBeat, `${workerId} task ${index}`).toBeGreaterThan(LEASE_MS)
      expect(afterBeat, `${workerId} task ${index}`).toBeLessThanOrEqual(LEASE_MS + BEAT_MS)
    }
    console.log(figures.join("\n"))
    await client.cancel(jobId, "the test is done with it")
    expect((await client.wait(jobId)).state).toBe("cancelled")
  })

  it("leave the live coordinator and a replay of the log with the same digest, and the leader's clock bounded", async () => {
    const info = await waitFor("the coordinator to apply the whole log", async () => {
      const r = await cluster.cli(["info", "--json"])
      const i = JSON.parse(r.stdout) as InfoReply
      return i.appliedSeq === i.streamLastSeq ? i : undefined
    })
    const replay = await cluster.cli(["replay", "--until", String(info.appliedSeq), "--json"])
    expect(replay.code, replay.stderr).toBe(0)
    const replayed = JSON.parse(replay.stdout) as { digest: string; seq: number }
    expect(replayed.seq).toBe(info.appliedSeq)
    expect(replayed.digest).toBe(info.digest)
    // The nats-server stamps with this host's clock, so the coordinator's own wall clock (the same) must lie
    // within its estimate's bound: estimate <= stream time <= estimate + error (1 ms of rounding either way).
    expect(info.clock.basis).toBe("stream")
    expect(info.clock.errorMs).toBeGreaterThanOrEqual(0)
    expect(info.clock.wallOffsetMs).toBeGreaterThanOrEqual(-1)
    expect(info.clock.wallOffsetMs).toBeLessThanOrEqual((info.clock.errorMs as number) + 1)
    const text = await cluster.cli(["info"])
    expect(text.stdout).toMatch(/clock\s+stream time \S+, behind the stream by at most \d+ ms; the leader host's own clock is [+-]\d+ ms off it/)
  })
})
