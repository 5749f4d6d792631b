// The fair-share splits over time (SharesAllocated events): each job's lease quota, a step line per job.
// Collected during the same replay as the other charts; a pure builder like those in specs.ts.
import type { EventOf } from "../domain/events.ts"
import { FONT, SCHEMA, round, type Chart, type Row } from "./specs.ts"

/** Splits kept for the chart (the newest): a long-lived cluster makes one every few seconds at most. */
export const SPLITS_KEPT = 5000

export type Split = { readonly ts: number; readonly jobs: ReadonlyArray<{ jobId: string; quota: number; rate: number | null }> }

/** `ts`: the fold's time of the event (its stored time), like every other chart's. */
export const splitOf = (event: EventOf<"SharesAllocated">, ts: number = event.ts): Split => ({
  ts,
  jobs: event.jobs.map((j) => ({ jobId: j.jobId, quota: j.quota, rate: j.rate }))
})

export const allocationChart = (splits: ReadonlyArray<Split>): Chart | undefined => {
  if (!splits.some((s) => s.jobs.length > 1)) return undefined
  const t0 = (splits[0] as Split).ts
  const data: Row[] = []
  for (const split of splits) for (const j of split.jobs) data.push({ seconds: round((split.ts - t0) / 1000), job: j.jobId, quota: j.quota, rate: j.rate === null ? null : round(j.rate) })
  return {
    name: "allocation",
    title: "Fair-share allocation: leases per job over time",
    data,
    spec: {
      $schema: SCHEMA,
      title: "Fair-share allocation: leases per job over time",
      width: 560,
      height: 240,
      background: "white",
      config: { font: FONT },
      data: { values: data },
      mark: { type: "line", interpolate: "step-after", point: true },
      encoding: {
        x: { field: "seconds", type: "quantitative", title: "time since the first split (s)" },
        y: { field: "quota", type: "quantitative", title: "lease quota" },
        color: { field: "job", type: "nominal", title: "job" },
        tooltip: [{ field: "job" }, { field: "seconds" }, { field: "quota" }, { field: "rate", title: "rate (units/s)" }]
      }
    }
  }
}
