import { describe, expect, it } from "vitest"
import {
  allCharts,
  FONT,
  round,
  SCHEMA,
  speedupChart,
  speedupRows,
  throughputChart,
  timelineChart,
  trainingChart,
  trainingComparison,
  utilisationChart,
  wallTimeChart,
  type Chart
} from "../../src/charts/specs.ts"
import type { ActivityView, AttemptView, SecondView } from "../../src/projections/activity.ts"
import type { EpochRecord } from "../../src/projections/training.ts"
import { speedupCsv, type TrainingJobReport, type TrainingReport } from "../../src/reports/training-report.ts"

// ---- a hand-made report: plain data, exactly what trainingReport() returns ----

const epoch = (n: number, f: Partial<EpochRecord> = {}): EpochRecord => ({
  epoch: n, at: 1000 * n, ts: 1000 * n, version: n, loss: 1 / n, trainAccuracy: 0.5, ms: 100, samples: 100, samplesPerSec: 1000, workers: 1, mode: "sync", ...f
})

const job = (jobId: string, o: Partial<TrainingJobReport> = {}): TrainingJobReport => ({
  jobId, model: "softmax", task: "multiclass", mode: "sync", workers: 1, samples: 100, batchSize: 10, epochsPlanned: 2, lr: 0.5, seed: 1,
  state: "completed", submittedAt: 0, startedAt: 10, endedAt: 2010, wallMs: 2000, epochs: [epoch(1), epoch(2)], stoppedEarly: false, ...o
})

const report: TrainingReport = {
  jobs: [
    job("t1", {
      name: "base",
      epochs: [
        epoch(1, { loss: 0.9, trainAccuracy: 0.6, testLoss: 0.95, testAccuracy: 0.58 }),
        epoch(2, { loss: 0.5, trainAccuracy: 0.8, testLoss: 0.55, testAccuracy: null })
      ]
    }),
    job("t2", { workers: 2, wallMs: 1500, epochs: [epoch(1, { ms: 60, trainAccuracy: 0.7 }), epoch(2, { ms: 40, trainAccuracy: 1 / 3 })] }),
    job("t3", { mode: "avg", workers: 2, wallMs: 1234.5678, epochs: [epoch(1, { ms: 70, trainAccuracy: null })] }),
    job("t4", { mode: "avg", epochs: [epoch(1, { ms: 90, trainAccuracy: null })] }),
    job("t5", { state: "running", epochs: [epoch(1)], endedAt: undefined, wallMs: undefined }),
    job("t6", { state: "failed", epochs: [] })
  ]
}

const specOf = (chart: Chart | undefined): Record<string, unknown> => {
  expect(chart).toBeDefined()
  return (chart as Chart).spec
}

const expectCommon = (chart: Chart | undefined): void => {
  const spec = specOf(chart)
  expect(spec["$schema"]).toBe(SCHEMA)
  expect(spec["config"]).toEqual({ font: FONT })
  expect(spec["background"]).toBe("white")
  expect(spec["data"]).toEqual({ values: chart?.data })
  expect(chart?.name).toMatch(/^[A-Za-z0-9_-]+$/)
  expect(JSON.parse(JSON.stringify(chart?.data))).toStrictEqual(chart?.data) // plain JSON cells
}

describe("training charts", () => {
  it("plots loss and accuracy per epoch on separate panels", () => {
    const chart = trainingChart(report.jobs[0] as TrainingJobReport)
    expectCommon(chart)
    expect(chart?.name).toBe("training_t1")
    expect(chart?.title).toBe("Training of base: softmax, sync, 1 worker")
    expect(chart?.data).toStrictEqual([
      { epoch: 1, series: "loss", value: 0.9 },
      { epoch: 1, series: "test loss", value: 0.95 },
      { epoch: 1, series: "train accuracy", value: 0.6 },
      { epoch: 1, series: "test accuracy", value: 0.58 },
      { epoch: 2, series: "loss", value: 0.5 },
      { epoch: 2, series: "test loss", value: 0.55 },
      { epoch: 2, series: "train accuracy", value: 0.8 }
    ])
    const panels = specOf(chart)["vconcat"] as Array<{ transform: unknown; encoding: { y: { title: string; scale: unknown } } }>
    expect(panels.map((p) => p.transform)).toEqual([
      [{ filter: { field: "series", oneOf: ["loss", "test loss"] } }],
      [{ filter: { field: "series", oneOf: ["train accuracy", "test accuracy"] } }]
    ])
    expect(panels[1]?.encoding.y.scale).toEqual({ domain: [0, 1] })
  })

  it("has no accuracy panel without accuracy, and no chart without epochs", () => {
    const chart = trainingChart(report.jobs[2] as TrainingJobReport)
    expect(chart?.data).toStrictEqual([{ epoch: 1, series: "loss", value: 1 }])
    expect(specOf(chart)["vconcat"]).toHaveLength(1)
    expect(chart?.title).toBe("Training of t3: softmax, avg, 2 workers")
    expect(trainingChart(report.jobs[5] as TrainingJobReport)).toBeUndefined()
  })

  it("compares jobs on test accuracy where they have it, else train accuracy", () => {
    const chart = trainingComparison(report)
    expectCommon(chart)
    expect(chart?.data).toStrictEqual([
      { job: "base (softmax, sync)", jobId: "t1", metric: "test accuracy", epoch: 1, accuracy: 0.58 },
      { job: "t2 (softmax, sync)", jobId: "t2", metric: "train accuracy", epoch: 1, accuracy: 0.7 },
      { job: "t2 (softmax, sync)", jobId: "t2", metric: "train accuracy", epoch: 2, accuracy: 0.333333 },
      { job: "t5 (softmax, sync)", jobId: "t5", metric: "train accuracy", epoch: 1, accuracy: 0.5 }
    ])
  })

  it("keeps two jobs of one name on two lines", () => {
    const twins: TrainingReport = { jobs: [job("a", { name: "x" }), job("b", { name: "x" })] }
    expect([...new Set(trainingComparison(twins)?.data.map((r) => r.job))]).toEqual(["x (softmax, sync)", "x (softmax, sync) b"])
  })

  it("computes speed-up rows like speedup.csv", () => {
    const rows = speedupRows(report)
    expect(rows).toStrictEqual([
      { series: "avg", model: "softmax", task: "multiclass", mode: "avg", workers: 1, jobs: 1, meanEpochMs: 90, samplesPerSec: 1111.11, speedup: 1, samples: 100, batchSize: 10 },
      { series: "avg", model: "softmax", task: "multiclass", mode: "avg", workers: 2, jobs: 1, meanEpochMs: 70, samplesPerSec: 1428.57, speedup: 1.28571, samples: 100, batchSize: 10 },
      { series: "sync", model: "softmax", task: "multiclass", mode: "sync", workers: 1, jobs: 1, meanEpochMs: 100, samplesPerSec: 1000, speedup: 1, samples: 100, batchSize: 10 },
      { series: "sync", model: "softmax", task: "multiclass", mode: "sync", workers: 2, jobs: 1, meanEpochMs: 50, samplesPerSec: 2000, speedup: 2, samples: 100, batchSize: 10 }
    ])
    // The same figures as the CSV (speedup is its 8th column).
    const csvSpeedups = speedupCsv(report).trim().split("\n").slice(1).map((line) => Number(line.split(",")[7]))
    expect(rows.map((r) => r.speedup)).toEqual(csvSpeedups)
    expectCommon(speedupChart(report))
  })

  it("names the comparable group in the series when there are several, and has no chart without a 1-worker baseline", () => {
    const mixed: TrainingReport = { jobs: [job("a"), job("b", { workers: 2 }), job("c", { samples: 200 }), job("d", { samples: 200, workers: 4 })] }
    expect(speedupRows(mixed).map((r) => [r.series, r.workers, r.speedup])).toEqual([
      ["softmax multiclass n=100 b=10 sync", 1, 1],
      ["softmax multiclass n=200 b=10 sync", 1, 1],
      ["softmax multiclass n=100 b=10 sync", 2, 1],
      ["softmax multiclass n=200 b=10 sync", 4, 1]
    ])
    expect(speedupChart({ jobs: [job("a", { workers: 2 })] })).toBeUndefined()
  })

  it("plots the wall time of completed jobs, grouped by mode", () => {
    const chart = wallTimeChart(report)
    expectCommon(chart)
    expect(chart?.data).toStrictEqual([
      { job: "base (t1)", jobId: "t1", mode: "sync", model: "softmax", workers: 1, wallMs: 2000, wallSeconds: 2 },
      { job: "t2 (t2)", jobId: "t2", mode: "sync", model: "softmax", workers: 2, wallMs: 1500, wallSeconds: 1.5 },
      { job: "t3 (t3)", jobId: "t3", mode: "avg", model: "softmax", workers: 2, wallMs: 1234.57, wallSeconds: 1.23457 },
      { job: "t4 (t4)", jobId: "t4", mode: "avg", model: "softmax", workers: 1, wallMs: 2000, wallSeconds: 2 }
    ])
    const spec = specOf(chart) as { facet: { column: unknown }; spec: { encoding: { x: unknown } }; resolve: unknown }
    expect(spec.facet.column).toMatchObject({ field: "mode", sort: ["sync", "async", "avg"] })
    expect(spec.spec.encoding.x).toMatchObject({ field: "job" })
    expect(spec.resolve).toEqual({ scale: { x: "independent" } })
    expect(wallTimeChart({ jobs: [job("r", { state: "running", wallMs: undefined })] })).toBeUndefined()
  })
})

// ---- a hand-made activity view ----

const run = (jobId: string, index: number, attempt: number, workerId: string, leasedAt: number, o: Partial<AttemptView> = {}): AttemptView => ({
  jobId, index, attempt, workerId, leasedAt, endedAt: leasedAt + 1000, outcome: "completed", speculative: false, retry: attempt > 1, ...o
})

const view = (o: Partial<ActivityView> = {}): ActivityView => ({
  events: 10,
  firstTs: 10_000,
  lastTs: 16_000,
  droppedAttempts: 0,
  workers: [
    { workerId: "w2", slots: 1, joinedAt: 10_000 },
    { workerId: "w1", slots: 2, joinedAt: 10_500, leftAt: 15_000, how: "lost" }
  ],
  jobs: [],
  seconds: [],
  attempts: [
    run("j1", 0, 1, "w1", 11_000),
    run("j1", 1, 1, "w1", 11_000, { endedAt: 12_000, outcome: "failed", error: "boom" }),
    run("j1", 1, 2, "w2", 12_500, { endedAt: 13_000 }),
    run("j1", 2, 1, "w1", 13_000, { endedAt: 15_000, outcome: "reclaimed", reason: "worker lost" }),
    run("j1", 2, 2, "w2", 13_500, { speculative: true, endedAt: undefined, outcome: "running" }),
    run("j2", 0, 1, "w2", 14_000, { endedAt: 14_250 })
  ],
  ...o
})

describe("timeline chart", () => {
  it("draws one lane per worker and a bar per attempt, marking retries, reclaims and speculative copies", () => {
    const chart = timelineChart(view())
    expectCommon(chart)
    expect(chart?.name).toBe("timeline")
    expect(chart?.title).toBe("Task attempts per worker")
    expect(chart?.data.map((r) => [r.workerId, r.task, r.start, r.end, r.outcome, r.mark, r.note])).toEqual([
      ["w1", "j1/0.1", 0, 1, "completed", "", ""],
      ["w1", "j1/1.1", 0, 1, "failed", "", "boom"],
      ["w2", "j1/1.2", 1.5, 2, "completed", "retry", ""],
      ["w1", "j1/2.1", 2, 4, "reclaimed", "reclaimed", "worker lost"],
      ["w2", "j1/2.2", 2.5, 5, "running", "speculative", ""], // running: up to the last event
      ["w2", "j2/0.1", 3, 3.25, "completed", "", ""]
    ])
    const layers = specOf(chart)["layer"] as Array<{ encoding: { y: { field: string; scale: { domain: string[] } } } }>
    expect(layers[0]?.encoding.y).toMatchObject({ field: "workerId", scale: { domain: ["w2", "w1"] } }) // join order
  })

  it("shows one job only when asked", () => {
    const chart = timelineChart(view(), { jobId: "j2" })
    expect(chart?.name).toBe("timeline_j2")
    expect(chart?.title).toBe("Task attempts of job j2 per worker")
    expect(chart?.data.map((r) => [r.workerId, r.task, r.start, r.end])).toEqual([["w2", "j2/0.1", 0, 0.25]])
    expect(timelineChart(view(), { jobId: "nope" })).toBeUndefined()
  })

  it("keeps the most recent maxBars attempts and says so", () => {
    const chart = timelineChart(view(), { maxBars: 2 })
    expect(chart?.title).toBe("Task attempts per worker (the most recent 2 of 6)")
    expect(chart?.data.map((r) => [r.task, r.start])).toEqual([["j1/2.2", 0], ["j2/0.1", 0.5]])
    expect(timelineChart(view({ droppedAttempts: 7 }))?.title).toBe("Task attempts per worker (7 older attempts not kept)")
  })
})

const seconds = (entries: ReadonlyArray<[number, number, number]>): SecondView[] =>
  entries.map(([second, events, tasksCompleted]) => ({ second, events, tasksCompleted, tasksFailed: 0, leases: 0 }))

describe("throughput and utilisation charts", () => {
  it("plots tasks/s and events/s per second when the span is short", () => {
    const chart = throughputChart(view({ seconds: seconds([[100, 4, 1], [102, 6, 3]]) }))
    expectCommon(chart)
    expect(chart?.title).toBe("Throughput")
    expect(chart?.data).toStrictEqual([
      { t: 0, series: "tasks/s", rate: 1 },
      { t: 0, series: "events/s", rate: 4 },
      { t: 1, series: "tasks/s", rate: 0 },
      { t: 1, series: "events/s", rate: 0 },
      { t: 2, series: "tasks/s", rate: 3 },
      { t: 2, series: "events/s", rate: 6 }
    ])
  })

  it("re-buckets a long span to at most 300 points: width ceil(span / 300), rate = count / width", () => {
    const entries: Array<[number, number, number]> = []
    for (let s = 0; s < 1000; s++) entries.push([5000 + s, 2, s % 2])
    const chart = throughputChart(view({ seconds: seconds(entries) }))
    expect(chart?.title).toBe("Throughput (4 s buckets)")
    const tasks = chart?.data.filter((r) => r.series === "tasks/s") ?? []
    expect(tasks).toHaveLength(250)
    expect(tasks[0]).toStrictEqual({ t: 0, series: "tasks/s", rate: 0.5 })
    expect(tasks.at(-1)).toStrictEqual({ t: 996, series: "tasks/s", rate: 0.5 })
    expect(chart?.data.filter((r) => r.series === "events/s").every((r) => r.rate === 2)).toBe(true)
    const odd = throughputChart(view({ seconds: seconds([[0, 3, 0], [900, 3, 0]]) }))
    // Span 901 s: 4 s buckets, 226 of them.
    expect(odd?.data.filter((r) => r.series === "events/s").map((r) => r.rate).filter((r) => r !== 0)).toEqual([0.75, 0.75])
    expect(odd?.data).toHaveLength(2 * 226)
    expect(throughputChart(view())).toBeUndefined()
  })

  it("gives each worker its busy fraction per bucket, in [0, 1], while it is present", () => {
    const chart = utilisationChart(view({ seconds: seconds([[10, 1, 0], [15, 1, 0]]) }))
    expectCommon(chart)
    expect(chart?.data.map((r) => [r.workerId, r.t, r.busy])).toEqual([
      // w2, 1 slot: j1/1.2 12.5-13, j1/2.2 13.5-16 (running to the last event), j2/0.1 14-14.25 (over 1: clamped)
      ["w2", 0, 0], ["w2", 1, 0], ["w2", 2, 0.5], ["w2", 3, 0.5], ["w2", 4, 1], ["w2", 5, 1],
      // w1, 2 slots, from 10.5 to 15 (lost): two attempts 11-12, then j1/2.1 13-15
      ["w1", 0, 0], ["w1", 1, 1], ["w1", 2, 0], ["w1", 3, 0.5], ["w1", 4, 0.5]
    ])
    expect(chart?.data[0]).toStrictEqual({ workerId: "w2", slots: 1, t: 0, tEnd: 1, busy: 0 })
  })
})

describe("allCharts", () => {
  const activity = view({ seconds: seconds([[10, 1, 0], [15, 1, 0]]) })

  it("lists the charts with data in a fixed order", () => {
    expect(allCharts(report, activity).map((c) => c.name)).toEqual([
      "training_t1", "training_t2", "training_t3", "training_t4", "training_t5",
      "training_comparison", "speedup", "wall_time", "timeline", "throughput", "utilisation"
    ])
    expect(allCharts({ jobs: [] }, view({ attempts: [], seconds: [] })).map((c) => c.name)).toEqual([])
  })

  it("with a job id, gives that job's training chart and timeline only", () => {
    expect(allCharts(report, view({ attempts: [run("t2", 0, 1, "w1", 11_000)] }), { jobId: "t2" }).map((c) => c.name)).toEqual(["training_t2", "timeline_t2"])
    expect(allCharts(report, activity, { jobId: "j1" }).map((c) => c.name)).toEqual(["timeline_j1"])
  })

  it("is deterministic: the same input gives byte-identical specs", () => {
    expect(JSON.stringify(allCharts(report, activity))).toBe(JSON.stringify(allCharts(structuredClone(report), structuredClone(activity))))
  })
})

describe("round", () => {
  it("keeps 6 significant digits and integers as they are", () => {
    expect([1 / 3, 2 / 3, 123456.789, 1234567.5, 0.1 + 0.2, -0, 42, -1e-7 / 3].map(round)).toEqual([0.333333, 0.666667, 123457, 1234570, 0.3, 0, 42, -3.33333e-8])
    expect(Object.is(round(-0), 0)).toBe(true)
  })
})
