// Must show (issue 15, item 2): an event over the size limit is refused before it is published, with an
// error naming the event and its size; a stream that reaches its limit refuses new events (discard new),
// the refusal is reported, and nothing already accepted is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MAX_EVENT_BYTES } from "../../src/domain/event-codec.ts"
import { newEventId } from "../../src/domain/ids.ts"
import { stopChild } from "../../src/cli/local-cluster.ts"
import { EventTooLarge, StreamFull } from "../../src/nats/errors.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"

type Info = { appliedSeq: number; streamLastSeq: number; digest: string; stream?: { messages: number; maxMsgs: number; full: { message: string } | null } }

describe("stream limits", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("refuses an event over the size limit before publishing it, and sets aside one written around the check", async () => {
    const coordinator = await cluster.coordinator()
    const client = await cluster.client()
    const before = await client.log.lastSeq()
    const id = newEventId()
    const huge = { type: "TaskCompleted" as const, id, v: 1 as const, ts: Date.now(), writer: { role: "worker" as const, id: "w9" }, workerId: "w9", results: [{ jobId: "j-x", index: 0, attempt: 1, result: "x".repeat(MAX_EVENT_BYTES), ms: 1 }] }
    const error = await client.log.append(huge).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(EventTooLarge)
    expect((error as Error).message).toMatch(new RegExp(`^TaskCompleted ${id} is 100\\d{4} bytes, over the 1000000-byte event limit`))
    expect(await client.log.lastSeq()).toBe(before)

    // A client that skips the check (the stream takes up to 1 MiB): stored, but never folded.
    const raw = new TextEncoder().encode(JSON.stringify({ ...huge, id: newEventId() }).slice(0, MAX_EVENT_BYTES + 10) )
    const ack = await client.log.js.publish("dtq.ev.TaskCompleted.w9", raw)
    const info = await waitFor("the coordinator to fold it", async () => {
      const i = JSON.parse((await cluster.cli(["info", "--json"])).stdout) as Info & { summary: { recentRejected: Array<{ seq: number; reason: string }> } }
      return i.appliedSeq >= ack.seq ? i : undefined
    })
    expect(info.summary.recentRejected.find((r) => r.seq === ack.seq)?.reason).toBe(`${MAX_EVENT_BYTES + 10} bytes, over the ${MAX_EVENT_BYTES}-byte event limit`)
    await stopChild(coordinator)
  })

  it("a full stream refuses new events, the coordinator reports it, and everything accepted is kept", async () => {
    const coordinator = await cluster.coordinator(["--max-stream-msgs", "100"])
    const client = await cluster.client()
    await cluster.worker("w1", ["--slots", "2"])
    // Submit small jobs until the stream refuses one.
    const accepted: string[] = []
    let refusal: unknown
    for (let i = 0; i < 200 && refusal === undefined; i++) {
      await client.submitJob({ kind: "sum", from: "1", to: "100", tasks: 2 }).then(
        ({ jobId }) => accepted.push(jobId),
        (e: unknown) => (refusal = e)
      )
    }
    expect(refusal).toBeInstanceOf(StreamFull)
    expect((refusal as Error).message).toMatch(/^the event stream DTQ_EVENTS is full and refuses new events \(.*maximum messages exceeded.*\); JobSubmitted was not recorded/)
    const full = await waitFor("dtq info to report the full stream", async () => {
      const i = JSON.parse((await cluster.cli(["info", "--json"])).stdout) as Info
      return i.stream?.full !== null && i.stream?.full !== undefined ? i : undefined
    })
    expect(full.stream).toMatchObject({ messages: 100, maxMsgs: 100 })
    const text = await cluster.cli(["info"])
    expect(text.stdout).toMatch(/STREAM FULL  since .*: the event stream DTQ_EVENTS is full/)

    // Every accepted job is in the log; raise the limit and each of them completes with its exact sum.
    const stored = (await client.replay()).state
    expect(accepted.every((jobId) => stored.jobs.has(jobId))).toBe(true)
    await stopChild(coordinator)
    await cluster.coordinator(["--max-stream-msgs", "100000"])
    for (const jobId of accepted) expect(await client.wait(jobId)).toMatchObject({ state: "completed", result: "5050" })
  }, 120_000)
})
