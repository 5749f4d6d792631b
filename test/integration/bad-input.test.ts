// Must show (issue 2, item 4): bad input is refused or set aside with its reason; nothing stops serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { jetstream } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { freePort } from "../../src/nats/local-server.ts"
import { runCli, startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"

type Info = { appliedSeq: number; streamLastSeq: number; summary: { rejected: number; recentRejected: Array<{ seq: number; reason: string }> } }

describe("bad input", () => {
  let cluster: TestCluster
  let nc: NatsConnection
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.coordinator()
    await cluster.worker("w1", ["--slots", "4"])
    nc = await connect({ servers: cluster.url })
  })
  afterAll(async () => {
    await nc?.close()
    await cluster?.cleanup()
  })

  const info = async (): Promise<Info> =>
    waitFor("the coordinator to catch up", async () => {
      const i = JSON.parse((await cluster.cli(["info", "--json"])).stdout) as Info
      return i.appliedSeq === i.streamLastSeq ? i : undefined
    })

  /** Publishes raw bytes on an event subject, as a buggy or hostile client would; returns the stored sequence. */
  const publishRaw = async (subject: string, payload: string): Promise<number> => (await jetstream(nc).publish(subject, payload)).seq

  const setAsideReason = async (seq: number): Promise<string | undefined> =>
    (await info()).summary.recentRejected.find((r) => r.seq === seq)?.reason

  it("sets aside a garbage event and keeps serving", async () => {
    const seq = await publishRaw("dtq.ev.TaskCompleted.w1", "\u0000\u0001 not json at all {")
    expect(await setAsideReason(seq)).toMatch(/not valid JSON/)
    const r = await cluster.cli(["sum", "1", "10", "--wait", "--json"])
    expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: "55" })
  })

  it("sets aside an event with a wrong field type, naming the field", async () => {
    const seq = await publishRaw(
      "dtq.ev.TaskCompleted.w1",
      JSON.stringify({ type: "TaskCompleted", id: "bad-1", v: 1, ts: Date.now(), writer: { role: "worker", id: "w1" }, workerId: "w1", results: [{ jobId: "j-x", index: "three", attempt: 1, result: "1", ms: 1 }] })
    )
    expect(await setAsideReason(seq)).toBe('TaskCompleted: results[0].index: Expected number, got "three"')
  })

  it("sets aside a result for a task attempt that was never leased, and never counts it", async () => {
    const client = await cluster.client()
    const done = await client.run({ kind: "sum", from: "1", to: "100", tasks: 4 })
    expect(done.result).toBe("5050")
    const seq = await publishRaw(
      "dtq.ev.TaskCompleted.w1",
      JSON.stringify({ type: "TaskCompleted", id: "forged-1", v: 1, ts: Date.now(), writer: { role: "worker", id: "w1" }, workerId: "w1", results: [{ jobId: done.jobId, index: 2, attempt: 9, result: "1000000", ms: 1 }] })
    )
    expect(await setAsideReason(seq)).toMatch(/attempt 9 .* which was never leased/)
    const job = await client.job(done.jobId)
    expect(job).toMatchObject({ result: "5050", done: 4, duplicates: 0 })
  })

  it("sets aside a decision forged by a non-coordinator and an unknown event type", async () => {
    const forged = await publishRaw(
      "dtq.ev.JobCompleted.j-x",
      JSON.stringify({ type: "JobCompleted", id: "forged-2", v: 1, ts: Date.now(), writer: { role: "producer", id: "p" }, jobId: "j-x", result: "1", epoch: 1 })
    )
    const unknown = await publishRaw("dtq.ev.Whatever.x", JSON.stringify({ type: "Whatever" }))
    expect(await setAsideReason(forged)).toMatch(/writer.role: Expected "coordinator"/)
    expect(await setAsideReason(unknown)).toBe('unknown event type "Whatever"')
    const events = await cluster.cli(["events", "--from", String(forged)])
    expect(events.stdout).toContain('SET ASIDE: JobCompleted: writer.role: Expected "coordinator"')
  })

  it("refuses a bad spec before it enters the log, naming the field (exit 2)", async () => {
    const before = (await info()).streamLastSeq
    const cases: Array<[string[], RegExp]> = [
      [["sum", "10", "1"], /^dtq: bad job spec: from: the range is empty: from \(10\) is greater than to \(1\)\n$/],
      [["sum", "1.5", "3"], /^dtq: bad job spec: from: "1.5" is not a decimal integer/],
      [["sumsq", "1", "x9"], /^dtq: bad job spec: to: "x9" is not a decimal integer/],
      [["sum", "1", "10", "--tasks", "0"], /^dtq: bad job spec: tasks: /],
      [["sum", "1", "10", "--max-attempts", "1000"], /^dtq: bad job spec: maxAttempts: /],
      [["sum", "1"], /^dtq: dtq sum needs two integers/],
      [["sum", "1", "2", "--frobnicate"], /^dtq: unknown option --frobnicate/]
    ]
    for (const [args, message] of cases) {
      const r = await cluster.cli(args)
      expect(r.code, args.join(" ")).toBe(2)
      expect(r.stderr, args.join(" ")).toMatch(message)
      expect(r.stderr.split("\n").filter((l) => l !== "")).toHaveLength(1)
    }
    expect((await info()).streamLastSeq).toBe(before)
  })

  it("reports an unreachable server in one line with exit code 3", async () => {
    const port = await freePort()
    for (const args of [["sum", "1", "10", "--wait"], ["jobs"], ["info"], ["replay"]]) {
      const r = await runCli([...args, "--nats", `nats://127.0.0.1:${port}`], { timeoutMs: 20_000 })
      expect(r.code, args.join(" ")).toBe(3)
      expect(r.stderr).toBe(`dtq: cannot reach the NATS server at nats://127.0.0.1:${port}: connection refused (connect ECONNREFUSED 127.0.0.1:${port})\n`)
    }
  })

  it("refuses a second worker with an id already in use", async () => {
    const r = await cluster.cli(["worker", "--id", "w1"], { timeoutMs: 20_000 })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^dtq: worker id w1 is already in use by a live worker \(pid \d+ on .+\); choose another --id\n$/)
  })
})
