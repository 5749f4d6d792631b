// `dtq plot`: every chart and CSV from the event log alone. One replay folds the log into the cluster
// state (for the training report) and into the activity projection (attempts, workers, per-second
// counts), and collects the fair-share splits; the charts are pure functions of those, rendered headless
// by vega to SVG and by resvg (with explicit font files) to PNG. Each chart's Vega-Lite spec (data inline,
// ready for the Vega editor) and its data are written beside the images.
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { EventLog } from "../nats/event-log.ts"
import { foldMessage } from "../projections/fold-message.ts"
import { emptyState, type ClusterState } from "../projections/state.ts"
import { activityView, applyActivity, emptyActivity, type ActivityView } from "../projections/activity.ts"
import { trainingReport, type TrainingReport } from "./training-report.ts"
import { writeTrainingFiles } from "./training-files.ts"
import { allCharts, type Chart } from "../charts/specs.ts"
import { SPLITS_KEPT, allocationChart, splitOf, type Split } from "../charts/allocation.ts"
import { findFonts, renderPng, renderSvg, type FontSet } from "../charts/render.ts"

export type PlotFormat = "svg" | "png" | "both"

export type PlotData = {
  readonly report: TrainingReport
  readonly activity: ActivityView
  readonly splits: ReadonlyArray<Split>
}

/** Replays the log (through `untilSeq`, default the newest event) into everything the charts need. */
export const replayForPlots = async (log: EventLog, untilSeq?: number): Promise<PlotData & { state: ClusterState; events: number; firstSeq: number }> => {
  const state = emptyState()
  let firstSeq = 0 // after a compaction the log starts later: charts cover only what is left
  const activity = emptyActivity()
  const splits: Split[] = []
  let events = 0
  await log.readRange(1, untilSeq, (m) => {
    const fenced = state.fencedCount
    const rejected = state.rejectedCount
    const decoded = foldMessage(state, m, m.data)
    if (events === 0) firstSeq = m.seq
    events++
    if (!decoded.ok || state.fencedCount !== fenced) return
    const event = decoded.event
    // A decision the fold set aside never happened; a worker's fact may be partly refused, and the
    // activity projection ignores results of attempts it never saw.
    if (state.rejectedCount !== rejected && event.writer.role === "coordinator") return
    applyActivity(activity, event, state.now)
    if (event.type === "SharesAllocated") {
      splits.push(splitOf(event, state.now))
      if (splits.length > SPLITS_KEPT) splits.shift()
    }
  })
  return { state, events, firstSeq, report: trainingReport(state), activity: activityView(activity), splits }
}

/** The charts of the data, in a fixed order; with `jobId`, that job's charts only. */
export const chartsOf = (data: PlotData, jobId?: string): Chart[] => {
  const charts = allCharts(data.report, data.activity, jobId === undefined ? {} : { jobId })
  const allocation = jobId === undefined ? allocationChart(data.splits) : undefined
  return allocation === undefined ? charts : [...charts, allocation]
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

/**
 * Writes the CSVs (logs/) and the charts (charts/: NAME.vl.json, NAME.data.json, NAME.svg and/or
 * NAME.png). Returns the paths written, sorted. Fonts are looked up only when PNGs are wanted.
 */
export const writePlots = async (data: PlotData, options: { outDir: string; format: PlotFormat; jobId?: string; fonts?: FontSet }): Promise<string[]> => {
  const charts = chartsOf(data, options.jobId)
  const fonts = options.format === "svg" ? undefined : (options.fonts ?? findFonts())
  const files = await writeTrainingFiles(data.report, options.outDir, new Map())
  const dir = join(options.outDir, "charts")
  await mkdir(dir, { recursive: true })
  for (const chart of charts) {
    const base = join(dir, chart.name)
    await writeFile(`${base}.vl.json`, json(chart.spec))
    await writeFile(`${base}.data.json`, json(chart.data))
    files.push(`${base}.vl.json`, `${base}.data.json`)
    const svg = await renderSvg(chart.spec)
    if (options.format !== "png") {
      await writeFile(`${base}.svg`, svg)
      files.push(`${base}.svg`)
    }
    if (fonts !== undefined) {
      await writeFile(`${base}.png`, renderPng(svg, fonts))
      files.push(`${base}.png`)
    }
  }
  return files.sort()
}
