// Must show (issue 8, items 1-4): user-defined tasks from a module outside the dtq tree, run by real
// worker processes; typed results; bad inputs refused before the log; non-retryable and retryable errors;
// priorities with aging; delayed tasks; a caller's timeout cancels the task.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { InvalidInput, JobCancelled, TaskFailed, TaskTimeout } from "../../src/producer/errors.ts"
import type { Client } from "../../src/producer/client.ts"
import { auditJob } from "../helpers/log-audit.ts"
import { startTestCluster, waitFor, type TestCluster } from "../helpers/cluster.ts"
import { makeUserProject, type UserProject } from "../helpers/user-project.ts"

type Tasks = typeof import("../fixtures/user-project/tasks.ts")

describe("user-defined tasks", () => {
  let cluster: TestCluster
  let project: UserProject
  let tasks: Tasks
  let client: Client
  const workerPids: number[] = []

  beforeAll(async () => {
    project = makeUserProject()
    // The caller imports the very module the workers load (from the user's project, not from dtq's tree).
    tasks = (await import(project.file("tasks.ts"))) as Tasks
    cluster = await startTestCluster()
    await cluster.coordinator()
    // No prefetch: a prefetched lease is already committed to a worker, so priorities order only what is not.
    for (const id of ["typed-1", "typed-2"]) workerPids.push((await cluster.worker(id, ["--slots", "2", "--prefetch", "0", "--tasks", project.file("tasks.ts")])).process.pid as number)
    await cluster.worker("plain-js", ["--slots", "1", "--tasks", project.file("plain.js")])
    client = await cluster.client()
  })
  afterAll(async () => {
    await cluster?.cleanup()
    project?.remove()
  })

  const submittedJobs = async (): Promise<number> => {
    let n = 0
    await client.log.readRange(1, undefined, (m) => {
      if (m.subject.startsWith("dtq.ev.JobSubmitted.")) n++
    })
    return n
  }

  it("returns typed results computed by the worker processes", async () => {
    const result = await client.submit(tasks.square, { n: 12 }, { timeout: 20_000 })
    expect(result.n).toBe(12)
    expect(result.square).toBe(144)
    expect(workerPids).toContain(result.pid) // computed in a worker process, not here
    const next = await client.submit(tasks.when, { at: new Date("2026-01-31T12:00:00Z") }, { timeout: 20_000 })
    expect(next.nextDay).toBeInstanceOf(Date)
    expect(next.nextDay.toISOString()).toBe("2026-02-01T12:00:00.000Z")

    const batch = await client.batch(tasks.square, Array.from({ length: 40 }, (_, n) => ({ n })))
    const squares = await batch.results({ timeout: 30_000 })
    expect(squares.map((s) => s.square)).toEqual(Array.from({ length: 40 }, (_, n) => n * n))
    expect(new Set(squares.map((s) => s.pid)).size).toBe(2) // spread over both typed workers
  })

  it("refuses a bad input before it enters the log, naming the field", async () => {
    const before = await submittedJobs()
    const bad = { n: "twelve" } as unknown as { n: number }
    await expect(client.submit(tasks.square, bad)).rejects.toThrow(InvalidInput)
    await expect(client.submit(tasks.square, bad)).rejects.toThrow('input.n: Expected number, got "twelve"')
    await expect(client.batch(tasks.square, [{ n: 1 }, { n: 2.5 }])).rejects.toThrow("inputs[1]: input.n: Expected an integer, got 2.5")
    // The CLI: checked by a live worker that runs the task, or by the module itself with --tasks.
    const viaWorker = await cluster.cli(["submit", "square", "--input", '{"n":"x"}', "--wait"])
    expect(viaWorker.code).toBe(2)
    expect(viaWorker.stderr).toContain('bad input: input.n: Expected number, got "x"')
    const batch = await cluster.cli(["submit", "square", "--batch", "--input", '[{"n":1},{"n":2},{"n":"x"}]'])
    expect(batch.code).toBe(2)
    expect(batch.stderr).toContain('bad input: inputs[2]: input.n: Expected number, got "x"')
    const viaModule = await cluster.cli(["submit", "square", "--input", "{}", "--tasks", project.file("tasks.ts")])
    expect(viaModule.code).toBe(2)
    expect(viaModule.stderr).toContain("bad input: input.n: Missing key")
    expect(await submittedJobs()).toBe(before)
  })

  it("fails at once on a non-retryable error and tells the caller so", async () => {
    const error = await client.submit(tasks.refuse, { why: "no thanks" }, { timeout: 20_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TaskFailed)
    expect((error as TaskFailed).message).toBe("refused: no thanks")
    expect((error as TaskFailed).retryable).toBe(false)
    expect((error as TaskFailed).attempts).toBe(1)
    const audit = await auditJob(client, (error as TaskFailed).jobId)
    expect(audit.leases.get(0)).toEqual([1]) // never retried
    // An untyped JavaScript handler can say the same with `retryable = false`.
    const js = await cluster.cli(["submit", "boom", "--input", "{}", "--wait", "--json"])
    expect(js.code).toBe(1)
    expect(JSON.parse(js.stdout)).toMatchObject({ state: "failed", reason: "boom (not retryable)", retryable: false, attempts: 1 })
    const echo = await cluster.cli(["submit", "echo", "--input", '{"a":[1,2]}', "--wait", "--json"])
    expect(echo.code).toBe(0)
    expect(JSON.parse(echo.stdout)).toMatchObject({ state: "completed", result: { echoed: { a: [1, 2] } } })
  })

  it("retries a retryable error per the task's policy, reporting each retry", async () => {
    const retries: string[] = []
    const ok = await client.submit(tasks.flaky, { succeedOn: 3 }, { timeout: 20_000, onProgress: (p) => p.type === "retry" && retries.push(p.error) })
    expect(ok.attempt).toBe(3)
    expect(retries).toEqual(["flaky failure on attempt 1", "flaky failure on attempt 2"])
    // The definition's default (4 attempts) applies; a submission can override it.
    const error = (await client.submit(tasks.flaky, { succeedOn: 99 }, { timeout: 20_000 }).catch((e: unknown) => e)) as TaskFailed
    expect(error).toBeInstanceOf(TaskFailed)
    expect(error.retryable).toBe(true)
    expect(error.attempts).toBe(4)
    expect(error.message).toBe("flaky failure on attempt 4")
    const audit = await auditJob(client, error.jobId)
    expect(audit.leases.get(0)).toEqual([1, 2, 3, 4])
    const delays = audit.events.flatMap((e) => (e.type === "RetryScheduled" ? [e.delayMs] : []))
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0.8 * 50 * 2 ** i) // backoffMs 50 from the definition, doubling
      expect(d).toBeLessThanOrEqual(1.2 * 50 * 2 ** i)
    })
    const twice = (await client.submit(tasks.flaky, { succeedOn: 99 }, { maxAttempts: 2, timeout: 20_000 }).catch((e: unknown) => e)) as TaskFailed
    expect(twice.attempts).toBe(2)
  })

  it("takes back an attempt over its timeoutMs and retries it, reporting progress meanwhile", async () => {
    const seen: string[] = []
    const error = (await client
      .submit(tasks.nap, { ms: 5000 }, { timeoutMs: 400, maxAttempts: 2, backoffMs: 10, timeout: 30_000, onProgress: (p) => seen.push(p.type) })
      .catch((e: unknown) => e)) as TaskFailed
    expect(error).toBeInstanceOf(TaskFailed)
    expect(error.retryable).toBe(true)
    expect(error.attempts).toBe(2)
    expect(error.message).toMatch(/^reclaimed: ran \d+ ms, over maxTaskMs 400$/)
    expect(seen).toContain("progress")
    expect(seen).toContain("retry")
  })

  it("keeps a task that no live worker runs waiting, and says why", async () => {
    const { jobId } = await client.submitTasks("nobody-runs-this", [{}], { queueUnknown: true })
    const detail = await waitFor("the job to be visible", async () => {
      const d = (await client.jobDetail(jobId)).value
      return d.job?.state === "running" || d.job?.state === "queued" ? d : undefined
    })
    expect(detail.blocked).toBe("waiting: no live worker runs task nobody-runs-this (start one with dtq worker --tasks MODULE)")
    const cli = await cluster.cli(["job", jobId])
    expect(cli.stdout).toContain("kind      task nobody-runs-this")
    expect(cli.stdout).toContain("waiting: no live worker runs task nobody-runs-this")
    await client.cancel(jobId)
  })

  it("rejects with a timeout when the task cannot finish in time, and cancels it", async () => {
    const t0 = Date.now()
    const error = (await client.submit(tasks.nap, { ms: 20_000 }, { timeout: 400 }).catch((e: unknown) => e)) as TaskTimeout
    expect(error).toBeInstanceOf(TaskTimeout)
    expect(Date.now() - t0).toBeLessThan(5000)
    const job = await waitFor("the job to be cancelled", async () => {
      const view = await client.job(error.jobId)
      return view?.state === "cancelled" ? view : undefined
    })
    expect(job.reason).toContain("stopped waiting after 400 ms")
    // The handler was aborted: the workers hold nothing of it any more.
    await waitFor("the workers to let go of the task", async () => {
      const { workers } = (await client.workers()).value
      return workers.every((w) => w.inFlight === 0) ? true : undefined
    })
    // A handle's wait can time out as well; a cancelled job rejects its waiters with JobCancelled.
    const handle = await client.enqueue(tasks.nap, { ms: 20_000 })
    await expect(handle.result({ timeout: 200 })).rejects.toThrow(TaskTimeout)
    await expect(handle.result({ timeout: 5000 })).rejects.toThrow(JobCancelled)
  })

  it("starts a delayed task at its time: not before, and within 100 ms after", async () => {
    const handles = await Promise.all([600, 900, 1200].map((delayMs) => client.enqueue(tasks.nap, { ms: 0, label: `d${delayMs}` }, { delayMs })))
    for (const handle of handles) {
      const view = await handle.status()
      expect(view?.state).toBe("queued") // nothing is leased before its time
    }
    const results = await Promise.all(handles.map((h) => h.result({ timeout: 20_000 })))
    for (const [i, handle] of handles.entries()) {
      const runAt = (await handle.status())?.runAt as number
      const startedAt = (results[i] as { startedAt: number }).startedAt
      expect(startedAt, `${handle.jobId}`).toBeGreaterThanOrEqual(runAt)
      expect(startedAt - runAt, `${handle.jobId}`).toBeLessThanOrEqual(100)
    }
  })

  it("runs high-priority tasks first under contention", async () => {
    // Both typed workers are busy with long naps; then low-priority tasks arrive, then high-priority ones.
    const blockers = await Promise.all([0, 1, 2, 3].map(() => client.enqueue(tasks.nap, { ms: 800, label: "blocker" })))
    await waitFor("the blockers to run", async () => ((await blockers[3]?.status())?.running === 1 ? true : undefined))
    const low = []
    for (let i = 0; i < 6; i++) low.push(await client.enqueue(tasks.nap, { ms: 30, label: `low${i}` }, { priority: "low" }))
    const high = []
    for (let i = 0; i < 6; i++) high.push(await client.enqueue(tasks.nap, { ms: 30, label: `high${i}` }, { priority: "high" }))
    const lows = await Promise.all(low.map((h) => h.result({ timeout: 30_000 })))
    const highs = await Promise.all(high.map((h) => h.result({ timeout: 30_000 })))
    // The scheduler's decisions: no low-priority task was leased in an earlier pass than a high-priority one
    // (a pass's leases share its time; the last high and the first low may go out together).
    const leasedAt = new Map<string, number>()
    await client.log.readRange(1, undefined, (m) => {
      if (!m.subject.startsWith("dtq.ev.TaskLeased.")) return
      const event = JSON.parse(new TextDecoder().decode(m.data)) as { ts: number; leases: Array<{ jobId: string }> }
      for (const lease of event.leases) if (!leasedAt.has(lease.jobId)) leasedAt.set(lease.jobId, event.ts)
    })
    const lastHighLease = Math.max(...high.map((h) => leasedAt.get(h.jobId) as number))
    const firstLowLease = Math.min(...low.map((h) => leasedAt.get(h.jobId) as number))
    expect(lastHighLease, "every high-priority task leased no later than any low-priority one").toBeLessThanOrEqual(firstLowLease)
    // And they finished first: the k-th high-priority task to finish did so no later than the k-th low one.
    const highEnds = highs.map((r) => r.endedAt).sort((a, b) => a - b)
    const lowEnds = lows.map((r) => r.endedAt).sort((a, b) => a - b)
    highEnds.forEach((end, k) => expect(end).toBeLessThanOrEqual(lowEnds[k] as number))
    expect(Math.max(...highEnds)).toBeLessThan(Math.max(...lowEnds))
    await Promise.all(blockers.map((h) => h.result({ timeout: 30_000 })))
  })

  it("never starves a low-priority task: aging lifts it above a stream of urgent ones", async () => {
    const highs: Array<Promise<unknown>> = []
    const urgent = () => highs.push(client.submit(tasks.nap, { ms: 100, label: "urgent" }, { priority: "high", timeout: 60_000 }))
    // Enough urgent work queued (4 slots, 3 s of it) that the cluster is seen saturated even on a slow machine.
    for (let i = 0; i < 120; i++) urgent()
    await waitFor("the cluster to be saturated", async () => ((await client.workers()).value.workers.filter((w) => w.kinds.includes("nap")).every((w) => w.inFlight === w.slots) ? true : undefined))
    const low = await client.enqueue(tasks.nap, { ms: 10, label: "patient" }, { priority: -5, agingMs: 100 })
    const until = Date.now() + 10_000
    let lowDone: number | undefined
    let lowStarted = 0
    void low.result({ timeout: 30_000 }).then((r) => {
      lowStarted = r.startedAt
      lowDone = Date.now()
    })
    // Keep the cluster saturated with high-priority work, submitted faster than it drains.
    while (lowDone === undefined && Date.now() < until) {
      for (let i = 0; i < 5; i++) urgent()
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(lowDone, "the low-priority task finished while urgent work kept arriving").toBeDefined()
    // It waited for aging (priority -5 against +1 at one level per 100 ms: at least 600 ms), not for the stream to end.
    const view = await low.status()
    expect(lowStarted - (view?.submittedAt ?? 0)).toBeGreaterThanOrEqual(500)
    await Promise.all(highs)
  })
})
