// Jobs of user-defined tasks in the fold, in snapshots and in the read models.
import { describe, expect, it } from "vitest"
import { resolveSpec, type ResolvedSpec } from "../../src/domain/job-spec.ts"
import { stateDigest } from "../../src/projections/digest.ts"
import { restoreSnapshot, takeSnapshot } from "../../src/projections/snapshot.ts"
import { TaskStatus, type JobState } from "../../src/projections/state.ts"
import { jobBlocker, jobView, outputsPage } from "../../src/projections/views.ts"
import * as F from "./fixtures.ts"

const taskSpec = (inputs: unknown[], extra: Record<string, unknown> = {}): ResolvedSpec =>
  resolveSpec({ kind: "task", task: "upper", inputs, ...extra }, 0)

/** Epoch 1, worker w1 (4 slots, task `upper`), and job `j` of the given inputs, scheduled unless `queued`. */
const withJob = (inputs: unknown[], o: { queued?: boolean; extra?: Record<string, unknown> } = {}): F.Log => {
  const spec = taskSpec(inputs, o.extra)
  const log = new F.Log().apply(F.coordinatorElected(1), F.workerJoined("w1", 4, { kinds: ["upper"] }), F.workerJoined("w2", 4, { kinds: ["upper"] }))
  log.apply(F.jobSubmitted("j", spec, { ts: 1000 }))
  if (o.queued !== true) log.apply(F.tasksScheduled("j", spec.tasks, { ts: 1000 }))
  return log
}
const jobOf = (log: F.Log, jobId = "j"): JobState => log.state.jobs.get(jobId) as JobState
const lease = (index: number, attempt = 1, speculative?: boolean) => ({ jobId: "j", index, attempt, ...(speculative === undefined ? {} : { speculative }) })
const result = (index: number, value: unknown, attempt = 1) => ({ jobId: "j", index, attempt, result: value })

describe("fold: outputs of task jobs", () => {
  it("keeps each output at its task's index, null until it is in", () => {
    const log = withJob(["a", "b", "c"])
    expect(jobOf(log).outputs).toEqual([null, null, null])
    log.apply(F.taskLeased("w1", [lease(0), lease(1), lease(2)]))
    log.apply(F.taskCompleted("w1", [result(2, "C"), result(0, "A")]))
    expect(jobOf(log).outputs).toEqual(["A", null, "C"])
    expect(jobOf(log).done).toBe(2)
    expect(jobOf(log).sum).toBe(0n)
  })

  it("the first valid result wins: a duplicate from another attempt does not overwrite it", () => {
    const log = withJob(["a"])
    log.apply(F.taskLeased("w1", [lease(0)]), F.taskLeased("w2", [lease(0, 2, true)]))
    log.apply(F.taskCompleted("w2", [result(0, { by: "copy" }, 2)]))
    log.apply(F.taskCompleted("w1", [result(0, { by: "original" }, 1)]))
    expect(jobOf(log).outputs).toEqual([{ by: "copy" }])
    expect(jobOf(log).duplicates).toBe(1)
    expect(log.state.duplicateResults).toBe(1)
    expect(log.state.rejectedCount).toBe(0)
  })

  it("accepts any JSON result for a task job", () => {
    const values = [{ a: [1, { b: null }] }, [1, "2"], 3.5, null, false, "not a number"]
    const log = withJob(values.map((_, i) => i))
    log.apply(F.taskLeased("w1", [0, 1, 2, 3].map((i) => lease(i))), F.taskLeased("w2", [4, 5].map((i) => lease(i))))
    log.apply(F.taskCompleted("w1", [0, 1, 2, 3].map((i) => result(i, values[i]))), F.taskCompleted("w2", [4, 5].map((i) => result(i, values[i]))))
    expect(log.state.rejectedCount).toBe(0)
    expect(jobOf(log).done).toBe(6)
    expect(jobOf(log).outputs).toEqual(values)
  })

  it("a sum job still requires a decimal integer string: an object is set aside and its attempt fails", () => {
    const log = new F.Log().apply(F.coordinatorElected(1), F.workerJoined("w1", 2), F.jobSubmitted("s", F.sumSpec(1, 10, 2)), F.tasksScheduled("s", 2))
    log.apply(F.taskLeased("w1", [{ jobId: "s", index: 0, attempt: 1 }]))
    log.apply(F.taskCompleted("w1", [{ jobId: "s", index: 0, attempt: 1, result: { v: 1 } }]))
    expect(log.rejectedReasons).toEqual(["TaskCompleted: result for task 0 attempt 1 of s is not a decimal integer string"])
    expect(jobOf(log, "s").status[0]).toBe(TaskStatus.NeedsDecision)
    expect(jobOf(log, "s").outputs).toBeUndefined()
  })
})

describe("fold: submission, start and end of task jobs", () => {
  it("sets aside a JobSubmitted whose inputs do not match its task count", () => {
    const spec = { ...taskSpec(["a", "b"]), tasks: 3 } as ResolvedSpec
    const log = new F.Log().apply(F.coordinatorElected(1), F.jobSubmitted("j", spec))
    expect(log.rejectedReasons).toEqual(["JobSubmitted: job j has 2 inputs but 3 tasks"])
    expect(log.state.jobs.has("j")).toBe(false)
    expect(log.state.activeJobs.size).toBe(0)
  })

  it("records when the job last got a lease", () => {
    const log = withJob(["a", "b"])
    expect(jobOf(log).lastLeasedAt).toBeUndefined()
    log.apply(F.taskLeased("w1", [lease(0)], { ts: 2000 }))
    expect(jobOf(log).lastLeasedAt).toBe(2000)
    log.apply(F.taskLeased("w2", [lease(1)], { ts: 3500 }))
    expect(jobOf(log).lastLeasedAt).toBe(3500)
  })

  it("a lease of a queued job starts it; the TasksScheduled landing after it is moot", () => {
    const log = withJob(["a", "b"], { queued: true })
    log.apply(F.taskLeased("w1", [lease(0)], { ts: 1500 }))
    const job = jobOf(log)
    expect(job.phase).toBe("running")
    expect(job.startedAt).toBe(1500)
    expect([...job.status]).toEqual([TaskStatus.Running, TaskStatus.Pending])
    log.apply(F.tasksScheduled("j", 2, { ts: 1600 }))
    expect(log.state.rejectedCount).toBe(0)
    expect(jobOf(log).startedAt).toBe(1500)
    expect(jobOf(log).running.size).toBe(1)
  })

  it("JobFailed with a task records it as the job's failed task", () => {
    const log = withJob(["a"])
    log.apply(F.taskLeased("w1", [lease(0)]))
    log.apply(F.taskFailed("w1", [{ jobId: "j", index: 0, attempt: 1, error: "bad input", retryable: false }]))
    const task = { index: 0, attempts: 1, error: "bad input", retryable: false }
    log.apply(F.draftEvent({ type: "JobFailed", jobId: "j", reason: "task 0 failed (non-retryable error): bad input", task }, { ts: 4000 }))
    expect(jobOf(log).phase).toBe("failed")
    expect(jobOf(log).failedTask).toEqual(task)
    expect(jobView(jobOf(log)).failedTask).toEqual(task)
    expect(jobOf(log).reason).toBe("task 0 failed (non-retryable error): bad input")
  })
})

describe("snapshots of task jobs", () => {
  it("round-trip inputs and outputs that look like snapshot tags to the same digest and the same values", () => {
    const inputs: unknown[] = [
      { $map: [[1, 2]], plain: 1 },
      { $set: ["a"], nested: [{ $big: "12" }, [{ $u8: "AAAA" }]] },
      { $obj: [["k", "v"]] },
      [[{ $map: { $big: "5" } }]],
      "$map"
    ]
    const outputs: unknown[] = [{ $big: "99" }, [{ $set: [1, 2] }], { $obj: { $map: [] } }, [[["$u8"]]], { $u8: "AA==", $obj: 1 }]
    const log = withJob(inputs)
    log.apply(F.taskLeased("w1", [0, 1, 2, 3].map((i) => lease(i))), F.taskLeased("w2", [lease(4)]))
    log.apply(F.taskCompleted("w1", [0, 1, 2].map((i) => result(i, outputs[i]))), F.taskCompleted("w2", [result(4, outputs[4])]))
    const { header, bytes } = takeSnapshot(log.state, 1)
    const restored = restoreSnapshot(bytes)
    if (!restored.ok) throw new Error(restored.reason)
    expect(stateDigest(restored.state)).toBe(header.digest)
    expect(header.digest).toBe(stateDigest(log.state))
    const job = restored.state.jobs.get("j") as JobState
    expect(job.spec.kind === "task" ? job.spec.inputs : undefined).toStrictEqual(inputs)
    expect(job.outputs).toStrictEqual([outputs[0], outputs[1], outputs[2], null, outputs[4]])
    expect(job.running).toBeInstanceOf(Map)
    expect(job.running.size).toBe(1)
  })

  it("round-trips an output holding an own __proto__ key beside a tag", () => {
    const output = JSON.parse('{"__proto__": {"$map": 1}, "$set": [2]}') as unknown
    const log = withJob(["a"])
    log.apply(F.taskLeased("w1", [lease(0)]), F.taskCompleted("w1", [result(0, output)]))
    const restored = restoreSnapshot(takeSnapshot(log.state, 1).bytes)
    if (!restored.ok) throw new Error(restored.reason)
    const back = (restored.state.jobs.get("j") as JobState).outputs?.[0] as object
    expect(Object.keys(back)).toEqual(["__proto__", "$set"])
    expect(JSON.stringify(back)).toBe(JSON.stringify(output))
  })
})

describe("views of task jobs", () => {
  it("jobView shows the task, priority, runAt and progress, and counts the inputs", () => {
    const log = withJob(["a", "b", "c"], { queued: true, extra: { priority: "high", runAt: 50_000, name: "shout" } })
    const view = jobView(jobOf(log))
    expect(view).toMatchObject({ jobId: "j", kind: "task", task: "upper", name: "shout", priority: 1, runAt: 50_000, progress: 0, state: "queued", tasks: 3 })
    expect(view.spec).toMatchObject({ kind: "task", task: "upper", inputs: 3, tasks: 3, runAt: 50_000 })
    // The state's spec keeps its inputs.
    expect(jobOf(log).spec).toMatchObject({ inputs: ["a", "b", "c"] })
  })

  it("progress adds the reported progress of running tasks to the done ones", () => {
    const log = withJob(["a", "b", "c", "d"])
    log.apply(F.taskLeased("w1", [lease(0), lease(1)]))
    log.apply(F.taskCompleted("w1", [result(0, "A")]), F.progressBeat("w1", [{ jobId: "j", index: 1, attempt: 1, progress: 0.5 }]))
    expect(jobView(jobOf(log)).progress).toBe(0.375)
    const sum = jobView(new F.Log().apply(F.jobSubmitted("s", F.sumSpec(1, 10, 2))).state.jobs.get("s") as JobState)
    expect(sum).toMatchObject({ kind: "sum", task: undefined, priority: 0, runAt: undefined, progress: 0 })
  })

  it("jobBlocker: a queued job before its runAt is delayed", () => {
    const log = withJob(["a"], { queued: true, extra: { runAt: 50_000 } })
    expect(jobBlocker(log.state, jobOf(log), 10_000)).toBe("waiting: delayed until 1970-01-01T00:00:50.000Z")
    expect(jobBlocker(log.state, jobOf(log))).toBe("waiting: delayed until 1970-01-01T00:00:50.000Z")
    expect(jobBlocker(log.state, jobOf(log), 50_000)).toBeUndefined()
  })

  it("jobBlocker names the task no live worker runs", () => {
    const spec = taskSpec(["a"], { task: "resize" })
    const log = new F.Log().apply(F.coordinatorElected(1), F.workerJoined("w1", 2, { kinds: ["upper"] }), F.workerJoined("w2", 2, { kinds: ["resize"] }))
    log.apply(F.jobSubmitted("j", spec), F.workerDraining("w2"))
    expect(jobBlocker(log.state, jobOf(log), 10_000)).toBe("waiting: no live worker runs task resize (start one with dtq worker --tasks MODULE)")
    log.apply(F.workerJoined("w3", 1, { kinds: ["upper", "resize"] }))
    expect(jobBlocker(log.state, jobOf(log), 10_000)).toBeUndefined()
  })

  it("outputsPage pages by bytes of JSON and always returns at least one output", () => {
    const log = withJob(["a", "b", "c"])
    log.apply(F.taskLeased("w1", [lease(0), lease(1), lease(2)]))
    log.apply(F.taskCompleted("w1", [result(0, "ab"), result(2, "cd")]))
    const job = jobOf(log)
    // Each output costs its JSON plus one: "ab" 5, null 5, "cd" 5.
    expect(outputsPage(job, 0, 10)).toEqual({ total: 3, offset: 0, outputs: ["ab", null] })
    expect(outputsPage(job, 2, 10)).toEqual({ total: 3, offset: 2, outputs: ["cd"] })
    expect(outputsPage(job, 0, 1)).toEqual({ total: 3, offset: 0, outputs: ["ab"] })
    expect(outputsPage(job, 0, 15)).toEqual({ total: 3, offset: 0, outputs: ["ab", null, "cd"] })
    expect(outputsPage(job, 3, 10)).toEqual({ total: 3, offset: 3, outputs: [] })
    const sum = new F.Log().apply(F.jobSubmitted("s", F.sumSpec(1, 10, 2))).state.jobs.get("s") as JobState
    expect(outputsPage(sum, 0, 10)).toBeUndefined()
  })

  it("outputsPage pages by UTF-8 bytes, not characters", () => {
    const text = "中".repeat(100) // 102 units of JSON, 302 bytes
    const log = withJob(["a", "b", "c"])
    log.apply(F.taskLeased("w1", [lease(0), lease(1), lease(2)]))
    log.apply(F.taskCompleted("w1", [0, 1, 2].map((i) => result(i, text))))
    const page = outputsPage(jobOf(log), 0, 400)
    expect(page?.outputs.length).toBe(1)
  })
})

describe("fold: a lease that starts a queued job", () => {
  it("starts it only when the lease itself is valid (a set-aside lease changes nothing)", () => {
    const log = withJob(["a", "b"], { queued: true })
    log.apply(F.taskLeased("w1", [lease(5)], { ts: 1500 }))
    expect(jobOf(log).phase).toBe("queued")
    expect(jobOf(log).startedAt).toBeUndefined()
    log.apply(F.taskLeased("w1", [lease(1, 2)], { ts: 1600 }))
    expect(jobOf(log).phase).toBe("queued")
    log.apply(F.taskLeased("w1", [lease(1)], { ts: 1700 }))
    expect(jobOf(log)).toMatchObject({ phase: "running", startedAt: 1700 })
  })
})
