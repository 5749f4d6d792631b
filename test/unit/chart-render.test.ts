import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Resvg } from "@resvg/resvg-js"
import { afterEach, describe, expect, it, vi } from "vitest"
import { darkPixels, findFonts, renderPng, renderRgba, renderSvg, DEFAULT_FONT_DIR } from "../../src/charts/render.ts"
import { allCharts, FONT, SCHEMA } from "../../src/charts/specs.ts"
import type { ActivityView } from "../../src/projections/activity.ts"
import type { TrainingReport } from "../../src/reports/training-report.ts"

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

/** A chart with nothing dark but its title: no axes, no frame, an invisible point. */
const titleOnly = (title: string) => ({
  $schema: SCHEMA,
  title,
  background: "white",
  config: { font: FONT, view: { stroke: null } },
  width: 300,
  height: 60,
  data: { values: [{ x: 1, y: 1 }] },
  mark: { type: "point", opacity: 0 },
  encoding: { x: { field: "x", type: "quantitative", axis: null }, y: { field: "y", type: "quantitative", axis: null } }
})

const report: TrainingReport = {
  jobs: [
    {
      jobId: "t1", name: "base", model: "softmax", task: "multiclass", mode: "sync", workers: 1, samples: 100, batchSize: 10, epochsPlanned: 2,
      lr: 0.5, seed: 1, state: "completed", submittedAt: 0, startedAt: 10, endedAt: 2010, wallMs: 2000, stoppedEarly: false,
      epochs: [1, 2].map((epoch) => ({
        epoch, at: 1000 * epoch, ts: 1000 * epoch, version: epoch, loss: 1 / epoch, trainAccuracy: 0.5 + epoch / 10, testLoss: 1.1 / epoch, testAccuracy: 0.45 + epoch / 10,
        ms: 100, samples: 100, samplesPerSec: 1000, workers: 1, mode: "sync"
      }))
    },
    {
      jobId: "t2", model: "softmax", task: "multiclass", mode: "sync", workers: 2, samples: 100, batchSize: 10, epochsPlanned: 1,
      lr: 0.5, seed: 1, state: "completed", submittedAt: 0, startedAt: 10, endedAt: 1010, wallMs: 1000, stoppedEarly: false,
      epochs: [{ epoch: 1, at: 1000, ts: 1000, version: 1, loss: 0.8, trainAccuracy: 0.6, ms: 55, samples: 100, samplesPerSec: 1818, workers: 2, mode: "sync" }]
    }
  ]
}

const activity: ActivityView = {
  events: 9,
  firstTs: 10_000,
  lastTs: 14_000,
  droppedAttempts: 0,
  workers: [{ workerId: "w1", slots: 1, joinedAt: 10_000 }, { workerId: "w2", slots: 2, joinedAt: 10_000, leftAt: 13_000, how: "left" }],
  jobs: [{ jobId: "j1", kind: "sum", submittedAt: 10_000, state: "running" }],
  attempts: [
    { jobId: "j1", index: 0, attempt: 1, workerId: "w1", leasedAt: 10_100, endedAt: 11_000, outcome: "failed", speculative: false, retry: false, error: "boom" },
    { jobId: "j1", index: 0, attempt: 2, workerId: "w2", leasedAt: 11_100, endedAt: 13_000, outcome: "reclaimed", speculative: false, retry: true, reason: "worker left" },
    { jobId: "j1", index: 1, attempt: 1, workerId: "w1", leasedAt: 11_200, outcome: "running", speculative: false, retry: false },
    { jobId: "j1", index: 1, attempt: 2, workerId: "w2", leasedAt: 12_000, endedAt: 12_500, outcome: "aborted", speculative: true, retry: true, reason: "lost the race" }
  ],
  seconds: [10, 11, 12, 13].map((second) => ({ second, events: 2, tasksCompleted: second % 2, tasksFailed: 0, leases: 1 }))
}

describe("findFonts", () => {
  it("finds DejaVu Sans in the Debian location, or in DTQ_FONT_DIR", () => {
    expect(findFonts({})).toEqual({ regular: join(DEFAULT_FONT_DIR, "DejaVuSans.ttf"), bold: join(DEFAULT_FONT_DIR, "DejaVuSans-Bold.ttf") })
    expect(findFonts({ DTQ_FONT_DIR: DEFAULT_FONT_DIR })).toEqual(findFonts({}))
  })

  it("fails with the paths it looked at and how to fix it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dtq-fonts-"))
    try {
      await writeFile(join(dir, "DejaVuSans.ttf"), "not really a font")
      const attempt = () => findFonts({ DTQ_FONT_DIR: dir })
      expect(attempt).toThrow(join(dir, "DejaVuSans-Bold.ttf"))
      expect(attempt).toThrow("install the Debian package fonts-dejavu-core or set DTQ_FONT_DIR")
      expect(() => findFonts({ DTQ_FONT_DIR: join(dir, "none") })).toThrow(`${join(dir, "none", "DejaVuSans.ttf")}, ${join(dir, "none", "DejaVuSans-Bold.ttf")}`)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe("rendering", () => {
  afterEach(() => vi.restoreAllMocks())

  it("draws the title's text with the DejaVu files, and only with them", async () => {
    const fonts = findFonts()
    const titled = await renderSvg(titleOnly("MMMMMMMM"))
    const untitled = await renderSvg(titleOnly(""))
    expect(titled).toContain("MMMMMMMM")
    expect(titled).toContain(`font-family="${FONT}"`)
    const band = (svg: string) => {
      const image = renderRgba(svg, fonts, 2)
      return darkPixels(image, 0, 60) // the top 30 SVG pixels, where the title sits
    }
    expect(band(untitled)).toBe(0)
    expect(band(titled)).toBeGreaterThan(500)
    // Without font files (and no system fonts) the same SVG has no text at all: the ink above is the font's.
    const bare = new Resvg(titled, { font: { loadSystemFonts: false }, fitTo: { mode: "zoom", value: 2 }, background: "white" }).render()
    expect(darkPixels({ width: bare.width, height: bare.height, rgba: bare.pixels }, 0, 60)).toBe(0)
  })

  it("renders every chart to SVG and PNG without a warning", async () => {
    const fonts = findFonts()
    const warn = vi.spyOn(console, "warn")
    const charts = allCharts(report, activity)
    expect(charts.map((c) => c.name)).toEqual(["training_t1", "training_t2", "training_comparison", "speedup", "wall_time", "timeline", "throughput", "utilisation"])
    for (const chart of charts) {
      const svg = await renderSvg(chart.spec)
      expect(svg.startsWith("<svg")).toBe(true)
      expect(svg).toContain(chart.title.replaceAll("&", "&amp;"))
      const png = renderPng(svg, fonts)
      expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE)
      const width = new DataView(png.buffer, png.byteOffset).getUint32(16)
      expect(width).toBe(Math.round(Number(/width="([\d.]+)"/.exec(svg)?.[1]) * 2)) // scale 2
      const image = renderRgba(svg, fonts, 1)
      expect(darkPixels(image, 0, 40)).toBeGreaterThan(100) // the title is drawn
    }
    expect(warn).not.toHaveBeenCalled()
  })

  it("gives the same SVG and PNG bytes for the same spec", async () => {
    const fonts = findFonts()
    const spec = allCharts(report, activity).find((c) => c.name === "timeline")?.spec ?? {}
    const [a, b] = [await renderSvg(spec), await renderSvg(structuredClone(spec))]
    expect(a).toBe(b)
    expect(Buffer.from(renderPng(a, fonts)).equals(Buffer.from(renderPng(b, fonts)))).toBe(true)
  })
})
