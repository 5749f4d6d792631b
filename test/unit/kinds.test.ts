// Tasks go only to workers that run their kind; a job no live worker can run waits, and says why.
import type { SchedulerOptions } from "../../src/coordinator/scheduler.ts"
import { describe, expect, it } from "vitest"
import { InFlight, plan } from "../../src/coordinator/scheduler.ts"
import { speculativeCopies } from "../../src/coordinator/speculation.ts"
import { resolveSpec } from "../../src/domain/job-spec.ts"
import { jobBlocker } from "../../src/projections/views.ts"
import * as F from "./fixtures.ts"

const options: SchedulerOptions = { maxLeasesPerEvent: 512, random: () => 0.5, sharing: "fifo" }
const NOW = 10_000

const leasedTo = (drafts: ReturnType<typeof plan>) =>
  Object.fromEntries(drafts.filter((d) => d.type === "TaskLeased").map((d) => [d.workerId, d.type === "TaskLeased" ? d.leases.length : 0]))

describe("kinds", () => {
  it("leases a job's tasks only to workers that advertise its kind", () => {
    const spec = resolveSpec({ kind: "sumsq", from: "1", to: "100", tasks: 10 })
    const log = new F.Log().apply(
      F.coordinatorElected(1),
      F.workerJoined("only-sum", 8, { kinds: ["sum"] }),
      F.workerJoined("both", 3),
      F.jobSubmitted("j-1", spec),
      F.tasksScheduled("j-1", 10)
    )
    expect(leasedTo(plan(log.state, new InFlight(), NOW, options))).toEqual({ both: 3 })
  })

  it("a job no live worker can run waits, and the reason is plain", () => {
    const spec = resolveSpec({ kind: "sumsq", from: "1", to: "100", tasks: 4 })
    const log = new F.Log().apply(F.coordinatorElected(1), F.workerJoined("only-sum", 8, { kinds: ["sum"] }), F.jobSubmitted("j-1", spec), F.tasksScheduled("j-1", 4))
    expect(plan(log.state, new InFlight(), NOW, options).filter((d) => d.type === "TaskLeased")).toEqual([])
    const job = log.state.jobs.get("j-1")!
    expect(jobBlocker(log.state, job)).toBe("waiting: no live worker runs tasks of kind sumsq")
    log.apply(F.workerJoined("both", 2))
    expect(jobBlocker(log.state, job)).toBeUndefined()
    expect(leasedTo(plan(log.state, new InFlight(), NOW, options))).toEqual({ both: 2 })
  })

  it("speculative copies go only to workers that run the kind", () => {
    const spec = resolveSpec({ kind: "sum", from: "1", to: "100", tasks: 4, speculationMinMs: 0 })
    const log = new F.Log().apply(
      F.coordinatorElected(1),
      F.workerJoined("w1", 4),
      F.workerJoined("other-kind", 4, { kinds: ["thumbnail"] }),
      F.jobSubmitted("j-1", spec),
      F.tasksScheduled("j-1", 4)
    )
    log.apply(F.taskLeased("w1", [0, 1, 2, 3].map((index) => ({ jobId: "j-1", index, attempt: 1 })), { ts: 1000 }))
    log.apply(F.taskCompleted("w1", [0, 1, 2].map((index) => ({ jobId: "j-1", index, attempt: 1, result: F.answer(spec, index), ms: 10 })), { ts: 1010 }))
    expect(speculativeCopies(log.state, new InFlight(), NOW)).toEqual([])
  })
})
