// The old-log fixture (test/fixtures/old-log) loaded into a fresh stream of a real nats-server, as its
// messages were stored (subjects, headers, payloads, in order), replays through the event log to the
// recorded job outcomes: what a cluster upgraded over an old stream does at start.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { headers } from "@nats-io/transport-node"
import { startTestCluster, type TestCluster } from "../helpers/cluster.ts"
import { jobOutcomes, readFixture, type JobOutcome } from "../helpers/log-fixture.ts"

const dir = join(import.meta.dirname, "../fixtures/old-log")
const expected = JSON.parse(readFileSync(join(dir, "outcomes.json"), "utf8")) as { lastSeq: number; jobs: JobOutcome[] }

describe("an old log in a fresh stream", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("replays to the recorded outcomes", async () => {
    const client = await cluster.client()
    for (const m of readFixture(join(dir, "log.jsonl"))) {
      const h = headers()
      // The compare-and-set header of a term claim held at recording time; re-checking it here adds nothing.
      for (const [key, values] of Object.entries(m.headers)) if (!key.startsWith("Nats-Expected")) for (const v of values) h.append(key, v)
      const ack = await client.log.js.publish(m.subject, m.data, { headers: h, msgID: h.get("Nats-Msg-Id") })
      expect(ack.seq, `message ${m.seq} stored at another sequence`).toBe(m.seq)
    }
    const { state } = await client.replay()
    expect(state.seq).toBe(expected.lastSeq)
    expect(state.recentRejected).toEqual([])
    expect(jobOutcomes(state)).toEqual(expected.jobs)
  })
})
