// Fair sharing, with an explicit clock: the split between running jobs, when it changes and when it
// holds, and how the scheduler leases under it. Rates: the one-second buckets a job's rate comes from.
import { describe, expect, it } from "vitest"
import { SETTLE_MS, decideShares } from "../../src/coordinator/fair-share.ts"
import { InFlight, plan, type SchedulerOptions } from "../../src/coordinator/scheduler.ts"
import { emptyRateWindow, percentiles, rateAt, recordRate } from "../../src/projections/rates.ts"
import * as F from "./fixtures.ts"
import { decideAndFold, leasesOf } from "./sim.ts"

const fair: SchedulerOptions = { maxLeasesPerEvent: 512, random: () => 0.5, sharing: "fair" }

const twoJobs = (priorities: [number, number] = [0, 0]) => {
  const log = new F.Log().apply(F.coordinatorElected(1, { ts: 1000 }))
  log.apply(F.workerJoined("w1", 4, { ts: 1001 })).apply(F.workerJoined("w2", 4, { ts: 1001 }))
  log.apply(F.jobSubmitted("a", F.sumSpec(1, 1000, 100, { priority: priorities[0] }), { ts: 1002 }))
  log.apply(F.jobSubmitted("b", F.sumSpec(1, 1000, 100, { priority: priorities[1] }), { ts: 1003 }))
  return log
}

const quotas = (draft: ReturnType<typeof decideShares>): Record<string, number> =>
  Object.fromEntries((draft?.jobs ?? []).map((j) => [j.jobId, j.quota]))

const leasedPerJob = (drafts: ReturnType<typeof plan>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const d of leasesOf(drafts)) for (const l of d.leases) out[l.jobId] = (out[l.jobId] ?? 0) + 1
  return out
}

describe("the fair-share split", () => {
  it("splits the cluster's leases evenly between jobs of one level, and leases accordingly", () => {
    const log = twoJobs()
    const drafts = plan(log.state, new InFlight(), 2000, fair)
    const split = drafts.find((d) => d.type === "SharesAllocated")
    expect(split).toMatchObject({ type: "SharesAllocated", capacity: 8, reason: "first split" })
    expect(quotas(split as never)).toEqual({ a: 4, b: 4 })
    expect(leasedPerJob(drafts)).toEqual({ a: 4, b: 4 })
  })

  it("in fifo mode the first job takes the whole cluster, as before", () => {
    const drafts = plan(twoJobs().state, new InFlight(), 2000, { ...fair, sharing: "fifo" })
    expect(drafts.some((d) => d.type === "SharesAllocated")).toBe(false)
    expect(leasedPerJob(drafts)).toEqual({ a: 8 })
  })

  it("divides between the highest priority level only; a lower level gets what is left", () => {
    const log = twoJobs([1, 0])
    const drafts = plan(log.state, new InFlight(), 2000, fair)
    expect(quotas(drafts.find((d) => d.type === "SharesAllocated") as never)).toEqual({ a: 8 })
    expect(leasedPerJob(drafts)).toEqual({ a: 8 })
  })

  it("a job that cannot use its part (few tasks left) hands it on; no capacity idles", () => {
    const log = new F.Log().apply(F.coordinatorElected(1, { ts: 1000 }))
    log.apply(F.workerJoined("w1", 8, { ts: 1001 }))
    log.apply(F.jobSubmitted("a", F.sumSpec(1, 100, 2), { ts: 1002 }))
    log.apply(F.jobSubmitted("b", F.sumSpec(1, 1000, 100), { ts: 1003 }))
    const drafts = plan(log.state, new InFlight(), 2000, fair)
    expect(quotas(drafts.find((d) => d.type === "SharesAllocated") as never)).toEqual({ a: 2, b: 6 })
    expect(leasedPerJob(drafts)).toEqual({ a: 2, b: 6 })
  })

  it("a job submitted into a full cluster is in the next split at once, and gets the next free capacity before the job over its quota", () => {
    const log = new F.Log().apply(F.coordinatorElected(1, { ts: 1000 }))
    log.apply(F.workerJoined("w1", 4, { ts: 1001 }))
    log.apply(F.jobSubmitted("a", F.sumSpec(1, 1000, 100), { ts: 1002 }))
    const inFlight = new InFlight()
    decideAndFold(log, inFlight, 2000, fair) // a holds all 4 leases
    expect(log.state.allocation?.quotas.get("a")).toBe(4)
    log.apply(F.jobSubmitted("b", F.sumSpec(1, 1000, 100), { ts: 2100 }))
    const split = decideAndFold(log, inFlight, 2100, fair).find((d) => d.type === "SharesAllocated")
    expect(split).toMatchObject({ reason: "started: b" })
    expect(quotas(split as never)).toEqual({ a: 2, b: 2 })
    // One of a's tasks ends: its lease goes to b, which is under its quota.
    const leased = [...(log.state.jobs.get("a")?.running.values() ?? [])][0]
    log.apply(F.taskCompleted("w1", [{ jobId: "a", index: leased?.index ?? 0, attempt: 1, result: F.answer(log.state.jobs.get("a")?.spec as never, leased?.index ?? 0), ms: 5 }], { ts: 2200 }))
    expect(leasedPerJob(decideAndFold(log, inFlight, 2200, fair))).toEqual({ b: 1 })
  })

  it("holds the split while nothing changes, and within SETTLE_MS of the last one", () => {
    const log = twoJobs()
    const inFlight = new InFlight()
    decideAndFold(log, inFlight, 2000, fair)
    expect(decideShares(log.state, log.state.allocation, 2500)).toBeUndefined()
    expect(decideShares(log.state, log.state.allocation, 2000 + SETTLE_MS + 100)).toBeUndefined()
    // A worker joins: the capacity changed, a new split at once.
    log.apply(F.workerJoined("w3", 4, { ts: 2600 }))
    expect(decideShares(log.state, log.state.allocation, 2600)).toMatchObject({ capacity: 12, reason: "capacity 8 -> 12" })
  })

  it("says when no job shares the cluster any more", () => {
    const log = twoJobs()
    decideAndFold(log, new InFlight(), 2000, fair)
    log.apply(F.jobCancelled("a", "x", { ts: 2100 })).apply(F.jobCancelled("b", "x", { ts: 2100 }))
    expect(decideShares(log.state, log.state.allocation, 2200)).toMatchObject({ reason: "no job shares the cluster", jobs: [] })
  })
})

describe("rates", () => {
  it("counts whole seconds of the window since a start, in units per second, with the busy time per unit", () => {
    const w = emptyRateWindow()
    for (let s = 0; s < 20; s++) recordRate(w, 100_000 + s * 1000 + 500, 10, 40)
    // At 120.0 s: the last 10 whole seconds (110..119) hold 100 units.
    expect(rateAt(w, 120_000, 0)).toEqual({ perSecond: 10, costMs: 4, units: 100 })
    // Since a split at 117.2 s: seconds 118 and 119 only.
    expect(rateAt(w, 120_000, 117_200, { fromWholeSecond: true })).toEqual({ perSecond: 10, costMs: 4, units: 20 })
    // A job started at 119.2 s and ended at 119.7 s: its units over its half second.
    const short = emptyRateWindow()
    recordRate(short, 119_600, 50, 10)
    expect(rateAt(short, 119_700, 119_200).perSecond).toBe(100)
  })

  it("nearest-rank percentiles", () => {
    expect(percentiles([5, 1, 4, 2, 3], [50, 90, 99])).toEqual([3, 5, 5])
    expect(percentiles([], [50])).toBeUndefined()
  })
})
