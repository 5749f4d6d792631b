// Retention: which finished jobs expire and when (coordinator/retention.ts, a pure function of the state,
// the policy and the clock), and what JobsExpired does in the fold (projections/retention.ts).
import { describe, expect, it } from "vitest"
import { expiredJobs } from "../../src/coordinator/retention.ts"
import { InFlight } from "../../src/coordinator/scheduler.ts"
import { stateDigest } from "../../src/projections/digest.ts"
import { jobsView } from "../../src/projections/views.ts"
import * as F from "./fixtures.ts"

const HOUR = 3_600_000

/** Epoch 1; jobs j-0..j-(n-1) submitted, j-i rejected (finished) at ts 10_000 + i; one job still queued. */
const finishedJobs = (n: number, extra: Record<string, unknown> = {}): F.Log => {
  const log = new F.Log().apply(F.coordinatorElected(1, { ts: 1000 }))
  for (let i = 0; i < n; i++) log.apply(F.jobSubmitted(`j-${i}`, F.sumSpec(1, 10, 1, i === 0 ? extra : {}), { ts: 2000 + i }))
  log.apply(F.jobSubmitted("j-queued", F.sumSpec(1, 10, 1), { ts: 3000 }))
  for (let i = 0; i < n; i++) log.apply(F.jobRejected(`j-${i}`, "test", { ts: 10_000 + i }))
  return log
}

const ids = (drafts: ReturnType<typeof expiredJobs>) => drafts.map((d) => (d.type === "JobsExpired" ? d.jobIds : []))

describe("expiredJobs", () => {
  it("expires finished jobs past their age, never a queued or running one", () => {
    const log = finishedJobs(3)
    const policy = { maxAgeMs: 5000, maxJobs: 100 }
    expect(expiredJobs(log.state, new InFlight(), 14_999, policy)).toEqual([])
    expect(ids(expiredJobs(log.state, new InFlight(), 15_001, policy))).toEqual([["j-0", "j-1"]])
    expect(ids(expiredJobs(log.state, new InFlight(), 10 * HOUR, policy))).toEqual([["j-0", "j-1", "j-2"]])
  })

  it("keeps at most maxJobs finished jobs, expiring the oldest-ended first", () => {
    const log = finishedJobs(5)
    expect(ids(expiredJobs(log.state, new InFlight(), 20_000, { maxAgeMs: HOUR, maxJobs: 2 }))).toEqual([["j-0", "j-1", "j-2"]])
    expect(ids(expiredJobs(log.state, new InFlight(), 20_000, { maxAgeMs: HOUR, maxJobs: 0 }))).toEqual([["j-0", "j-1", "j-2", "j-3", "j-4"]])
  })

  it("a job's own keepMs replaces the cluster's age for it", () => {
    const log = finishedJobs(2, { keepMs: 24 * HOUR })
    expect(ids(expiredJobs(log.state, new InFlight(), 2 * HOUR, { maxAgeMs: HOUR, maxJobs: 100 }))).toEqual([["j-1"]])
  })

  it("leaves jobs whose expiry is in flight to the next pass, and splits long lists", () => {
    const log = finishedJobs(2500)
    const inFlight = new InFlight()
    const drafts = expiredJobs(log.state, inFlight, 10 * HOUR, { maxAgeMs: HOUR, maxJobs: 100 })
    expect(drafts.map((d) => (d.type === "JobsExpired" ? d.jobIds.length : 0))).toEqual([1000, 1000, 500])
    for (const d of drafts) inFlight.hold(d)
    expect(expiredJobs(log.state, inFlight, 10 * HOUR, { maxAgeMs: HOUR, maxJobs: 100 })).toEqual([])
  })
})

describe("JobsExpired in the fold", () => {
  it("removes finished jobs, counts them, and sets aside an expiry of a job that has not ended", () => {
    const log = finishedJobs(2)
    const digest = stateDigest(log.state)
    log.apply(F.jobsExpired(["j-0", "j-queued"], { ts: 20_000 }))
    expect([...log.state.jobs.keys()]).toEqual(["j-1", "j-queued"])
    expect(log.state.expiredJobs).toBe(1)
    expect(log.rejectedReasons.at(-1)).toBe("JobsExpired: job j-queued is queued: only a finished job expires")
    expect(stateDigest(log.state)).not.toBe(digest)
    expect(jobsView(log.state).retention).toEqual({ retained: 1, expired: 1 })
    // Repeated (a decision re-sent across a fail-over): nothing is forgotten twice.
    log.apply(F.jobsExpired(["j-0"], { ts: 20_001 }))
    expect(log.state.expiredJobs).toBe(1)
  })

  it("is fenced like every decision of a deposed epoch", () => {
    const log = finishedJobs(1)
    log.apply(F.jobsExpired(["j-0"], { epoch: 7 }))
    expect(log.state.jobs.has("j-0")).toBe(true)
    expect(log.state.fencedCount).toBe(1)
  })
})
