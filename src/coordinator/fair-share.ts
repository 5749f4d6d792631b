// Fair sharing: how many leases each running job may hold, so that the jobs' rates converge (in
// proportion to their `share`), decided as a SharesAllocated event. Pure: state and time in, a split out.
//
// The measure is a job's rate per held lease, ρ = units/s ÷ its quota, taken since the split in force
// began. Quotas ∝ share / ρ then equalise share-weighted rates in either regime a worker can be in: when
// leases run in parallel, ρ = units per batch / batch time (a costlier job gets more leases); when
// leases queue at a worker, every lease cycles at the same pace and ρ = units per batch / cycle (the
// split follows batch sizes). Inference jobs count rows, others count tasks; a job of another kind than
// inference is given a plain weighted share of leases (rates in different units cannot be compared).
//
// Without oscillation: a new split is made at once when the set of jobs or the capacity changes, and
// otherwise only after SETTLE_MS under the current one: for inference jobs when their share-weighted
// rates differ by more than TOLERANCE and a damped move is predicted to narrow the gap by MIN_GAIN; for
// other jobs when some quota would move by HYSTERESIS of itself (and by at least one lease).
import { isFinished, type Allocation, type ClusterState, type JobState } from "../projections/state.ts"
import { rateAt } from "../projections/rates.ts"

export const SETTLE_MS = 2000
export const HYSTERESIS = 0.2

export type ShareDraft = {
  readonly type: "SharesAllocated"
  readonly capacity: number
  readonly reason: string
  readonly jobs: ReadonlyArray<{ jobId: string; quota: number; share: number; rate: number | null; cost: number | null }>
}

/**
 * The jobs fair sharing divides leases between: started or starting now, with tasks not done, of the
 * highest priority level among them (lower levels take what those leave). Training shares hold theirs.
 */
export const sharingJobs = (state: ClusterState, now: number): JobState[] => {
  const jobs: JobState[] = []
  let top = -Infinity
  for (const jobId of state.activeJobs) {
    const job = state.jobs.get(jobId)
    if (job === undefined || isFinished(job.phase) || job.training !== undefined || job.cancelRequested !== undefined) continue
    if (job.phase === "queued" && (job.spec.runAt ?? 0) > now) continue
    if (job.done >= job.count) continue
    jobs.push(job)
    top = Math.max(top, job.spec.priority ?? 0)
  }
  return jobs.filter((job) => (job.spec.priority ?? 0) === top)
}

/** Leases the cluster can hold for shared jobs: every live worker's slots and prefetch, less what training shares hold. */
export const sharedCapacity = (state: ClusterState): number => {
  let capacity = 0
  for (const worker of state.workers.values()) if (worker.phase === "live") capacity += worker.slots + worker.prefetch
  for (const jobId of state.activeJobs) {
    const job = state.jobs.get(jobId)
    if (job?.training !== undefined) capacity -= job.running.size
  }
  return Math.max(0, capacity)
}

type Entry = { job: JobState; share: number; demand: number; rows: boolean; rate: number | null; cost: number | null; perLease: number | undefined; target: number }

/**
 * The split to publish now, or undefined when the current one stands. `current` is the split in force
 * (the folded one, or the one this coordinator has just published).
 */
export const decideShares = (state: ClusterState, current: Allocation | ShareDraft | undefined, now: number): ShareDraft | undefined => {
  const jobs = sharingJobs(state, now)
  const capacity = sharedCapacity(state)
  const quotas = current === undefined ? new Map<string, number>() : quotaMap(current)
  if (jobs.length === 0) return current === undefined || quotas.size === 0 ? undefined : { type: "SharesAllocated", capacity, reason: "no job shares the cluster", jobs: [] }
  const changed = structuralChange(current, quotas, jobs, capacity)
  const settled = current !== undefined && "at" in current && now - current.at >= SETTLE_MS
  // The common case, cheaply (this runs on every scheduling pass): the same jobs, and too soon to weigh rates.
  if (changed === undefined && !settled) return undefined
  const since = current !== undefined && "at" in current ? current.at : now
  const entries: Entry[] = jobs.map((job) => {
    const share = job.spec.kind === "infer" ? job.spec.share : 1
    const started = Math.max(job.startedAt ?? now, since)
    // Measured over at least SETTLE_MS under the split in force (startup and the last split blur less).
    const measured = now - started >= SETTLE_MS ? rateAt(job.rates, now, started, { fromWholeSecond: true }) : undefined
    const quota = quotas.get(job.jobId)
    const perLease = measured !== undefined && measured.units > 0 && quota !== undefined && quota > 0 ? measured.perSecond / quota : undefined
    return {
      job,
      share,
      demand: job.count - job.done,
      rows: job.spec.kind === "infer",
      rate: measured === undefined ? null : round(measured.perSecond),
      cost: measured?.costMs === undefined ? null : round(measured.costMs),
      perLease,
      target: 0
    }
  })
  split(entries, capacity)
  const proposed = integerQuotas(entries, capacity)
  const draft = (reason: string, next: ReadonlyMap<string, number>): ShareDraft => ({
    type: "SharesAllocated",
    capacity,
    reason,
    jobs: entries.map((e) => ({ jobId: e.job.jobId, quota: next.get(e.job.jobId) ?? 0, share: e.share, rate: e.rate, cost: e.cost }))
  })
  if (changed !== undefined) return draft(changed, proposed)
  // Among inference jobs, rates are the goal: a split moves only when it is predicted to bring their
  // share-weighted rates closer together than they are measured now (so it never flips back and forth).
  if (entries.filter((e) => e.rows).length > 1) {
    const refined = refineByRates(entries, quotas, proposed)
    return refined === undefined ? undefined : draft("measured rates", refined)
  }
  // Other jobs' targets move only with their demand: with hysteresis.
  for (const [jobId, q] of proposed) {
    const was = quotas.get(jobId) ?? 0
    if (Math.abs(q - was) >= Math.max(1, HYSTERESIS * was)) return draft("measured rates", proposed)
  }
  return undefined
}

/** A new split is due at once when the jobs sharing the cluster or its capacity changed; why, or undefined. */
const structuralChange = (current: Allocation | ShareDraft | undefined, quotas: ReadonlyMap<string, number>, jobs: ReadonlyArray<JobState>, capacity: number): string | undefined => {
  if (current === undefined) return "first split"
  const ids = new Set(jobs.map((job) => job.jobId))
  const added = jobs.filter((job) => !quotas.has(job.jobId)).map((job) => job.jobId)
  const gone = [...quotas.keys()].filter((id) => !ids.has(id))
  if (added.length > 0 || gone.length > 0) {
    return [added.length > 0 ? `started: ${added.join(", ")}` : "", gone.length > 0 ? `ended: ${gone.join(", ")}` : ""].filter((s) => s !== "").join("; ")
  }
  return current.capacity === capacity ? undefined : `capacity ${current.capacity} -> ${capacity}`
}

/** The largest relative gap between a job's rate per unit of share and the mean of them (0: all equal). */
const spread = (values: ReadonlyArray<number>): number => {
  const mean = values.reduce((n, v) => n + v, 0) / values.length
  return mean <= 0 ? 0 : Math.max(...values.map((v) => Math.abs(v / mean - 1)))
}

/** Measured spread above which the split of inference jobs is reconsidered, and the gain a move must promise. */
const TOLERANCE = 0.05
const MIN_GAIN = 0.02

/**
 * For two or more measured inference jobs whose share-weighted rates differ by more than TOLERANCE: the
 * proposed split, or else one lease moved from the most to the least served job, if the rates per lease
 * predict a spread smaller by MIN_GAIN than the one measured. Undefined: keep the split in force.
 */
const refineByRates = (entries: ReadonlyArray<Entry>, current: ReadonlyMap<string, number>, proposed: ReadonlyMap<string, number>): Map<string, number> | undefined => {
  const rowJobs = entries.filter((e) => e.rows)
  if (rowJobs.length < 2 || rowJobs.some((e) => e.perLease === undefined || e.rate === null)) return undefined
  const measured = spread(rowJobs.map((e) => (e.rate as number) / e.share))
  if (measured <= TOLERANCE) return undefined
  const predicted = (quotas: ReadonlyMap<string, number>) => spread(rowJobs.map((e) => ((e.perLease as number) * (quotas.get(e.job.jobId) ?? 0)) / e.share))
  // Damped: each quota moves at most a quarter of itself (at least one lease) toward the proposal, since
  // rates per lease shift with the split itself (leases queued at a worker share its pace).
  const damped = new Map<string, number>()
  for (const [id, q] of proposed) {
    const was = current.get(id) ?? q
    const step = Math.max(1, Math.ceil(was / 4))
    damped.set(id, Math.max(1, was + Math.max(-step, Math.min(step, q - was))))
  }
  const candidates: Array<Map<string, number>> = [damped]
  const byServed = [...rowJobs].sort((a, b) => (b.rate as number) / b.share - (a.rate as number) / a.share)
  const most = byServed[0] as Entry
  const least = byServed.at(-1) as Entry
  const mostQuota = current.get(most.job.jobId) ?? 0
  if (mostQuota > 1) {
    const nudged = new Map(current)
    nudged.set(most.job.jobId, mostQuota - 1)
    nudged.set(least.job.jobId, (current.get(least.job.jobId) ?? 0) + 1)
    candidates.push(nudged)
  }
  let best: Map<string, number> | undefined
  let bestSpread = measured - MIN_GAIN
  for (const candidate of candidates) {
    if ([...candidate].every(([id, q]) => current.get(id) === q)) continue
    const p = predicted(candidate)
    if (p < bestSpread) {
      best = candidate
      bestSpread = p
    }
  }
  return best
}

const quotaMap = (allocation: Allocation | ShareDraft): Map<string, number> =>
  "quotas" in allocation ? allocation.quotas : new Map(allocation.jobs.map((j) => [j.jobId, j.quota]))

const round = (x: number): number => Number(x.toPrecision(6))

/**
 * Real-valued targets: a weighted share of leases each; the inference jobs' part is then re-split by
 * share / (rows per second per lease), so their row rates meet. No job gets more than its demand; what
 * it cannot use goes to the others in proportion to their targets.
 */
const split = (entries: Entry[], capacity: number): void => {
  const totalShare = entries.reduce((n, e) => n + e.share, 0)
  for (const e of entries) e.target = (capacity * e.share) / totalShare
  const rowJobs = entries.filter((e) => e.rows)
  const measured = rowJobs.filter((e) => e.perLease !== undefined && e.perLease > 0)
  if (rowJobs.length > 1 && measured.length > 0) {
    // A job not measured yet is taken to run at the measured jobs' mean rate per lease.
    const meanPerLease = measured.reduce((n, e) => n + (e.perLease as number), 0) / measured.length
    const part = rowJobs.reduce((n, e) => n + e.target, 0)
    const weights = rowJobs.map((e) => e.share / (e.perLease !== undefined && e.perLease > 0 ? e.perLease : meanPerLease))
    const totalWeight = weights.reduce((n, w) => n + w, 0)
    rowJobs.forEach((e, i) => (e.target = (part * (weights[i] as number)) / totalWeight))
  }
  // Water-filling: cap at demand, hand the excess on.
  for (let round = 0; round < entries.length; round++) {
    let excess = 0
    for (const e of entries) {
      if (e.target > e.demand) {
        excess += e.target - e.demand
        e.target = e.demand
      }
    }
    if (excess === 0) return
    const open = entries.filter((e) => e.target < e.demand)
    const openTotal = open.reduce((n, e) => n + e.target, 0)
    if (open.length === 0) return
    for (const e of open) e.target += openTotal > 0 ? (excess * e.target) / openTotal : excess / open.length
  }
}

/** Whole leases: floors, then the largest remainders; every job gets at least one (a new job starts at once). */
const integerQuotas = (entries: ReadonlyArray<Entry>, capacity: number): Map<string, number> => {
  const quotas = new Map<string, number>()
  let given = 0
  for (const e of entries) {
    const q = Math.floor(e.target + 1e-9)
    quotas.set(e.job.jobId, q)
    given += q
  }
  const total = Math.min(capacity, entries.reduce((n, e) => n + e.demand, 0))
  const byRemainder = [...entries].sort((a, b) => (b.target - Math.floor(b.target + 1e-9)) - (a.target - Math.floor(a.target + 1e-9)))
  for (const e of byRemainder) {
    if (given >= total) break
    const q = quotas.get(e.job.jobId) as number
    if (q >= e.demand) continue
    quotas.set(e.job.jobId, q + 1)
    given++
  }
  for (const e of entries) if ((quotas.get(e.job.jobId) ?? 0) < 1) quotas.set(e.job.jobId, 1)
  return quotas
}
