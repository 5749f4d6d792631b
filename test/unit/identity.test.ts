// Identity bound to subjects: the fold sets aside an event whose subject, writer and payload disagree.
import { describe, expect, it } from "vitest"
import { encodeEvent } from "../../src/domain/event-codec.ts"
import type { DtqEvent } from "../../src/domain/events.ts"
import { eventSubjectOf } from "../../src/domain/subject-scheme.ts"
import { foldMessage } from "../../src/projections/fold-message.ts"
import { identityProblem } from "../../src/projections/identity.ts"
import { emptyState } from "../../src/projections/state.ts"
import * as F from "./fixtures.ts"

const JOB = "j-1"
const SPEC = F.sumSpec(1, 100, 4)

describe("identity bound to subjects", () => {
  const setup = () => {
    const state = emptyState()
    let seq = 0
    const fold = (event: DtqEvent, subject = eventSubjectOf(event)) => foldMessage(state, { seq: ++seq, subject }, encodeEvent(event))
    fold(F.coordinatorElected(1))
    fold(F.jobSubmitted(JOB, SPEC))
    fold(F.workerJoined("w1", 2))
    fold(F.workerJoined("w2", 2))
    fold(F.tasksScheduled(JOB, 4))
    fold(F.taskLeased("w1", [{ jobId: JOB, index: 0, attempt: 1 }]))
    return { state, fold }
  }

  it("every event on its own subject is folded", () => {
    const { state } = setup()
    expect(state.rejectedCount).toBe(0)
    expect(state.jobs.get(JOB)?.running.size).toBe(1)
  })

  it("a result naming the lease holder but stored on another worker's subject is set aside; the real one still counts", () => {
    const { state, fold } = setup()
    const forged = F.taskCompleted("w1", [{ jobId: JOB, index: 0, attempt: 1, result: "4370000000000" }])
    const decoded = fold(forged, "dtq.ev.TaskCompleted.w2")
    expect(decoded.ok).toBe(false)
    expect(state.recentRejected.at(-1)?.reason).toBe(
      "TaskCompleted of worker w1 arrived on dtq.ev.TaskCompleted.w2, not on its own subject dtq.ev.TaskCompleted.w1"
    )
    expect(state.jobs.get(JOB)?.done).toBe(0)
    fold(F.taskCompleted("w1", [{ jobId: JOB, index: 0, attempt: 1, result: F.answer(SPEC, 0) }]))
    expect(state.jobs.get(JOB)).toMatchObject({ done: 1, sum: BigInt(F.answer(SPEC, 0)) })
  })

  it("a worker's fact written by another worker, and an event under another type's subject, are set aside", () => {
    const forged = { ...F.taskCompleted("w1", [{ jobId: JOB, index: 0, attempt: 1, result: "1" }]), writer: { role: "worker" as const, id: "w2" } }
    expect(identityProblem(forged, "dtq.ev.TaskCompleted.w1")).toBe("TaskCompleted names worker w1 but was written by w2")
    const decision = F.jobCompleted(JOB, "5050")
    expect(identityProblem(decision, `dtq.ev.JobSubmitted.${JOB}`)).toMatch(/arrived on dtq.ev.JobSubmitted.j-1, not on its own subject dtq.ev.JobCompleted.j-1/)
  })

  it("old logs keep replaying: a gradient on its job's subject (the layout before 0.2) is accepted", () => {
    const g = F.trainingEvents(JOB).find((e) => e.type === "GradientReported")
    if (g === undefined) throw new Error("the fixtures have no GradientReported")
    expect(identityProblem(g, `dtq.ev.GradientReported.${JOB}`)).toBeUndefined()
    expect(identityProblem(g, "dtq.ev.GradientReported.w-1")).toBeUndefined()
    expect(identityProblem(g, "dtq.ev.GradientReported.w2")).toMatch(/not on its own subject dtq.ev.GradientReported.w-1/)
  })
})
