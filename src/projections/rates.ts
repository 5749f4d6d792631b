// A job's recent throughput: completed units (rows of an inference job, tasks otherwise) and busy lease-ms
// in one-second buckets over the last RATE_WINDOW_S seconds. O(1) per result; plain arrays, so a snapshot
// (JSON) keeps it. Read with a time: the fold has no clock, its reader says what "now" is.

export const RATE_WINDOW_S = 10
/** Buckets kept: the window plus the second in progress. */
const BUCKETS = RATE_WINDOW_S + 1

export type RateWindow = {
  /** The second each bucket counts (ms / 1000, floored); -1 when unused. */
  readonly second: number[]
  readonly units: number[]
  readonly busyMs: number[]
}

export const emptyRateWindow = (): RateWindow => ({
  second: new Array<number>(BUCKETS).fill(-1),
  units: new Array<number>(BUCKETS).fill(0),
  busyMs: new Array<number>(BUCKETS).fill(0)
})

export const recordRate = (w: RateWindow, ts: number, units: number, busyMs: number): void => {
  const second = Math.floor(ts / 1000)
  const at = second % BUCKETS
  if (w.second[at] !== second) {
    // A result older than what the bucket holds (clock skew between writers) is not worth a bucket.
    if ((w.second[at] ?? -1) > second) return
    w.second[at] = second
    w.units[at] = 0
    w.busyMs[at] = 0
  }
  w.units[at] = (w.units[at] ?? 0) + units
  w.busyMs[at] = (w.busyMs[at] ?? 0) + busyMs
}

export type Rate = {
  /** Units per second over the window (or since `since` when the job is younger). */
  readonly perSecond: number
  /** Busy lease-ms per unit; undefined with nothing completed in the window. */
  readonly costMs: number | undefined
  readonly units: number
}

/**
 * The rate over the last RATE_WINDOW_S seconds before `now`, counting from `since` (a job's start). With
 * `fromWholeSecond`, only from the first whole second after `since`: the bucket `since` falls in also
 * holds what came before it (fair sharing measures from a split, not from a job's start).
 */
export const rateAt = (w: RateWindow, now: number, since: number, options: { fromWholeSecond?: boolean } = {}): Rate => {
  const nowSecond = Math.floor(now / 1000)
  const whole = options.fromWholeSecond === true
  const startSecond = whole ? Math.ceil(since / 1000) : Math.floor(since / 1000)
  const firstSecond = Math.min(nowSecond, Math.max(nowSecond - RATE_WINDOW_S, startSecond))
  let units = 0
  let busyMs = 0
  for (let i = 0; i < BUCKETS; i++) {
    const second = w.second[i] ?? -1
    if (second < firstSecond || second > nowSecond) continue
    units += w.units[i] ?? 0
    busyMs += w.busyMs[i] ?? 0
  }
  const windowStart = whole ? firstSecond * 1000 : Math.max(since, firstSecond * 1000)
  const seconds = Math.max(0.05, (now - windowStart) / 1000)
  return { perSecond: units / seconds, costMs: units === 0 ? undefined : busyMs / units, units }
}

/** Percentiles (nearest rank) of a list of durations; undefined when empty. */
export const percentiles = (values: ReadonlyArray<number>, ps: ReadonlyArray<number>): number[] | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number)
}
