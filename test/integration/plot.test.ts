// Charts and CSVs from the replayed log (issue 6): jobs run on a real cluster (with injected failures, so
// there are retries to mark), `dtq train --wait` writes its CSVs, `dtq plot` writes every chart; then the
// outputs are deleted, the coordinator is stopped, and `dtq plot` from the log alone writes the same bytes.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Client } from "../../src/producer/client.ts"
import type { Child } from "../../src/cli/local-cluster.ts"
import { stopChild } from "../../src/cli/local-cluster.ts"
import { replayForPlots } from "../../src/reports/plot.ts"
import { attemptMark } from "../../src/charts/specs.ts"
import { startTestCluster, type TestCluster } from "../helpers/cluster.ts"

const files = (dir: string): Map<string, Buffer> => {
  const out = new Map<string, Buffer>()
  const walk = (at: string, prefix: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(at, entry.name), `${prefix}${entry.name}/`)
      else out.set(`${prefix}${entry.name}`, readFileSync(join(at, entry.name)))
    }
  }
  walk(dir, "")
  return out
}

const dataOf = (dir: string, chart: string): Array<Record<string, unknown>> => JSON.parse(readFileSync(join(dir, "charts", `${chart}.data.json`), "utf8"))

describe("dtq plot: charts and CSVs from the log alone", () => {
  let cluster: TestCluster
  let client: Client
  let coordinator: Child
  let dir: string
  let trainJob: string
  let sumJob: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dtq-plot-"))
    cluster = await startTestCluster()
    coordinator = await cluster.coordinator()
    // A failure rate gives retries to mark on the timeline.
    for (const id of ["p1", "p2"]) await cluster.worker(id, ["--fail-rate", "0.15"])
    client = await cluster.client()
    const sum = await cluster.cli(["sum", "1", "100000", "--tasks", "60", "--max-attempts", "20", "--backoff-ms", "10", "--wait", "--json"])
    expect(sum.code, sum.stderr).toBe(0)
    sumJob = JSON.parse(sum.stdout).jobId
    const train = await cluster.cli(["train", "model=softmax", "samples=1000", "epochs=3", "batchSize=100", "workers=2", "maxAttempts=20", "--wait", "--json", "--out", join(dir, "train")], { timeoutMs: 120_000 })
    expect(train.code, train.stderr).toBe(0)
    trainJob = JSON.parse(train.stdout).jobId
  }, 180_000)
  afterAll(async () => {
    await cluster?.cleanup()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("writes every chart (spec, data, SVG, PNG) and the CSVs; the chart data are the log's figures", async () => {
    const out = join(dir, "first")
    const plot = await cluster.cli(["plot", "--out", out, "--format", "both"])
    expect(plot.code, plot.stderr).toBe(0)
    expect(plot.stdout).toMatch(/replayed \d+ events: \d+ chart\(s\) and 3 CSV file\(s\)/)
    const written = files(out)
    for (const chart of [`training_${trainJob}`, "training_comparison", "timeline", "throughput", "utilisation"]) {
      for (const ext of [".vl.json", ".data.json", ".svg", ".png"]) expect(written.has(`charts/${chart}${ext}`), `${chart}${ext}`).toBe(true)
    }
    // The CSVs are those `dtq train --wait` wrote from the same projection.
    for (const csv of ["job_summaries.csv", "speedup.csv", `${trainJob}_epochs.csv`]) {
      expect(written.get(`logs/${csv}`)?.toString(), csv).toBe(readFileSync(join(dir, "train", "logs", csv), "utf8"))
    }
    // Values per epoch: the training chart carries the recorded epochs, three of them.
    const epochs = (await client.job(trainJob))?.training?.epochs ?? []
    expect(epochs).toHaveLength(3)
    const losses = dataOf(out, `training_${trainJob}`).filter((r) => r.series === "loss").map((r) => [r.epoch, r.value])
    expect(losses).toEqual(epochs.map((e) => [e.epoch, Number(e.loss.toPrecision(6))]))
    // One lane per worker that ran something, a bar per attempt, retries marked.
    const timeline = dataOf(out, "timeline")
    expect(new Set(timeline.map((r) => r.workerId))).toEqual(new Set(["p1", "p2"]))
    const sumBars = timeline.filter((r) => r.jobId === sumJob)
    const log = await replayForPlots(client.log)
    const sumAttempts = log.activity.attempts.filter((a) => a.jobId === sumJob)
    expect(sumBars).toHaveLength(sumAttempts.length)
    expect(sumAttempts.filter((a) => a.attempt > 1).length).toBeGreaterThan(0)
    for (const mark of ["retry", "speculative", "reclaimed"]) {
      expect(sumBars.filter((r) => r.mark === mark).length, mark).toBe(sumAttempts.filter((a) => attemptMark(a) === mark).length)
    }
    expect(sumBars.filter((r) => r.mark === "retry").length).toBeGreaterThan(0)
    expect(sumBars.filter((r) => r.outcome === "failed").length).toBe(sumAttempts.filter((a) => a.outcome === "failed").length)
    // PNG files, with the charts' titles drawn (the SVG names the font; the PNG rasterises it).
    const png = written.get(`charts/training_${trainJob}.png`) as Buffer
    expect(png.subarray(1, 4).toString()).toBe("PNG")
    expect(written.get("charts/timeline.svg")?.toString()).toMatch(/font-family="DejaVu Sans/)
  }, 120_000)

  it("the coordinator's training projection and the replay give the same report", async () => {
    const live = await client.trainingReport()
    expect(live.replayed).toBe(false)
    expect(live.value).toEqual((await replayForPlots(client.log)).report)
  })

  it("after the outputs are deleted and the coordinator stopped, dtq plot writes the same CSVs and chart data from the log alone", async () => {
    const out = join(dir, "again")
    const first = await cluster.cli(["plot", "--out", out, "--format", "svg"])
    expect(first.code, first.stderr).toBe(0)
    const before = files(out)
    rmSync(out, { recursive: true, force: true })
    expect(existsSync(out)).toBe(false)
    await stopChild(coordinator)
    const again = await cluster.cli(["plot", "--out", out, "--format", "svg"])
    expect(again.code, again.stderr).toBe(0)
    const after = files(out)
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort())
    for (const [name, bytes] of before) {
      if (name.endsWith(".csv") || name.endsWith(".json")) expect(after.get(name)?.equals(bytes), name).toBe(true)
    }
    // One job's charts only.
    const one = await cluster.cli(["plot", "--job", trainJob, "--out", join(dir, "one"), "--format", "svg"])
    expect(one.code, one.stderr).toBe(0)
    expect([...files(join(dir, "one")).keys()].filter((f) => f.startsWith("charts/")).sort()).toEqual(
      [`charts/timeline_${trainJob}.data.json`, `charts/timeline_${trainJob}.svg`, `charts/timeline_${trainJob}.vl.json`, `charts/training_${trainJob}.data.json`, `charts/training_${trainJob}.svg`, `charts/training_${trainJob}.vl.json`].sort()
    )
    const bad = await cluster.cli(["plot", "--format", "gif"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--format is svg, png or both, not "gif"/)
  }, 120_000)
})
