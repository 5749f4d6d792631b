// `dtq plot [--job ID] [--out DIR] [--format svg|png|both]` and the prompt's `plot`: one function for both.
import { plotOutputDir } from "./output-dir.ts"
import type { Client } from "../producer/client.ts"
import type { PlotFormat } from "../reports/plot.ts"
import { UsageError, parseArgs, stringFlag } from "./args.ts"
import { withClient } from "./job-commands.ts"

export type PlotOptions = { readonly jobId?: string; readonly outDir: string; readonly format: PlotFormat }

const PLOT_FORMATS: ReadonlyArray<PlotFormat> = ["svg", "png", "both"]

export const plotFormat = (text: string | undefined): PlotFormat => {
  if (text === undefined) return "both"
  if (!(PLOT_FORMATS as ReadonlyArray<string>).includes(text)) throw new UsageError(`--format is svg, png or both, not ${JSON.stringify(text)}`)
  return text as PlotFormat
}

/** Replays the log and writes the CSVs and charts; returns what it wrote, for one line of output. */
export const runPlot = async (client: Client, options: PlotOptions): Promise<{ files: string[]; events: number; charts: number; firstSeq: number }> => {
  // Loaded on use: vega-lite patches Set.prototype.toJSON, which no coordinator or worker should inherit.
  const { replayForPlots, writePlots } = await import("../reports/plot.ts")
  const data = await replayForPlots(client.log)
  if (options.jobId !== undefined && !data.state.jobs.has(options.jobId)) throw new UsageError(`unknown job ${options.jobId}`)
  const files = await writePlots(data, { outDir: options.outDir, format: options.format, ...(options.jobId === undefined ? {} : { jobId: options.jobId }) })
  return { files, events: data.events, charts: files.filter((f) => f.endsWith(".vl.json")).length, firstSeq: data.firstSeq }
}

export const plotSummary = (result: { files: string[]; events: number; charts: number; firstSeq?: number }, outDir: string): string =>
  `replayed ${result.events} events: ${result.charts} chart(s) and ${result.files.filter((f) => f.endsWith(".csv")).length} CSV file(s) in ${outDir}` +
  ((result.firstSeq ?? 1) > 1 ? ` (they cover the log from #${result.firstSeq}: the events before it were compacted, and the charts of jobs that ran only then are gone)` : "")

export const plotCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("plot", argv, { job: "string", out: "string", format: "string" })
  if (args.positional.length > 0) throw new UsageError(`dtq plot takes no arguments, got ${args.positional.join(" ")} (dtq plot --job ID)`)
  const format = plotFormat(stringFlag(args, "format"))
  const jobId = stringFlag(args, "job")
  const outDir = plotOutputDir(stringFlag(args, "out"), jobId)
  return withClient(args, async (client) => {
    const result = await runPlot(client, { outDir, format, ...(jobId === undefined ? {} : { jobId }) })
    process.stdout.write(`${plotSummary(result, outDir)}\n`)
    return 0
  })
}
