// Issue 15: a worker told to stop (SIGTERM) while the NATS server is unreachable still drains and exits
// within a bound: every write and wait of its stop is bounded, and what it could not write is reclaimed.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startTestCluster, type TestCluster } from "../helpers/cluster.ts"

describe("SIGTERM with the server unreachable", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
  })
  afterAll(async () => cluster?.cleanup())

  it("drains and exits with code 0 instead of waiting for the server", async () => {
    await cluster.coordinator()
    const worker = await cluster.worker("w1", ["--slots", "2", "--offline-exit-ms", "0"])
    const client = await cluster.client()
    expect(await client.run({ kind: "sum", from: "1", to: "100", tasks: 2 })).toMatchObject({ state: "completed", result: "5050" })
    await client.close()
    await cluster.server.stop()
    worker.process.kill("SIGTERM")
    // The bound of a stop with nothing in flight is five steps of 5 s; 45 s leaves room for a busy machine.
    const code = await Promise.race([worker.exited, new Promise<string>((r) => setTimeout(() => r("still running after 45 s"), 45_000))])
    expect(code).toBe(0)
    await cluster.restartServer() // so that cleanup stops the rest as usual
  }, 90_000)
})
