// Must show (issue 2, item 1): exact range sums end to end through the CLI on a real cluster.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startTestCluster, type TestCluster } from "../helpers/cluster.ts"

describe("exact range sums on a cluster of three workers", () => {
  let cluster: TestCluster
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.coordinator()
    await Promise.all(["w1", "w2", "w3"].map((id) => cluster.worker(id, ["--slots", "4"])))
  })
  afterAll(async () => cluster?.cleanup())

  it("sumsq 1..1000000 is 333333833333500000", async () => {
    const r = await cluster.cli(["sumsq", "1", "1000000", "--wait", "--json"])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ state: "completed", result: "333333833333500000" })
    expect(out.jobId).toMatch(/^j-/)
  })

  it("sum 1..10^25+2 is exact", async () => {
    const n = 10n ** 25n + 2n
    const r = await cluster.cli(["sum", "1", n.toString(), "--wait", "--json"])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).result).toBe(((n * (n + 1n)) / 2n).toString())
  })

  it("handles negative ranges and an explicit task count", async () => {
    const r = await cluster.cli(["sumsq", "-1000", "999", "--tasks", "37", "--wait", "--json"])
    let expected = 0n
    for (let k = -1000n; k <= 999n; k++) expected += k * k
    expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: expected.toString(), tasks: 37 })
  })

  it("without --wait prints the job id, and dtq job shows the finished job", async () => {
    const r = await cluster.cli(["sum", "1", "100", "--json"])
    const { jobId } = JSON.parse(r.stdout)
    const done = await cluster.cli(["job", jobId, "--wait", "--json"])
    expect(JSON.parse(done.stdout)).toMatchObject({ jobId, state: "completed", result: "5050" })
    const shown = await cluster.cli(["job", jobId, "--json"])
    expect(JSON.parse(shown.stdout)).toMatchObject({ jobId, state: "completed", done: 100, tasks: 100 })
  })

  it("spreads tasks over every worker and reports them in dtq workers", async () => {
    const r = await cluster.cli(["workers", "--json"])
    const { workers } = JSON.parse(r.stdout) as { workers: Array<{ workerId: string; completed: number; state: string }> }
    expect(workers.map((w) => w.workerId).sort()).toEqual(["w1", "w2", "w3"])
    for (const w of workers) {
      expect(w.state).toBe("live")
      expect(w.completed).toBeGreaterThan(0)
    }
  })
})
