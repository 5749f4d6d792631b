import { describe, expect, it } from "vitest"
import { restoreSnapshot, takeSnapshot, SNAPSHOT_VERSION } from "../../src/projections/snapshot.ts"
import { stateDigest } from "../../src/projections/digest.ts"
import { resolveSpec } from "../../src/domain/job-spec.ts"
import * as F from "./fixtures.ts"
import { emptyState } from "../../src/projections/state.ts"

const busyState = () => {
  const spec = resolveSpec({ kind: "sum", from: "-5", to: "1000", tasks: 10 })
  const log = new F.Log().apply(F.coordinatorElected(1), F.workerJoined("w1", 4), F.jobSubmitted("j-1", spec), F.tasksScheduled("j-1", 10))
  log.apply(F.taskLeased("w1", [0, 1, 2].map((index) => ({ jobId: "j-1", index, attempt: 1 }))))
  log.apply(F.taskCompleted("w1", [{ jobId: "j-1", index: 1, attempt: 1, result: F.answer(spec, 1) }]))
  return log.state
}

const tamper = (bytes: Uint8Array, f: (text: string) => string) => new TextEncoder().encode(f(new TextDecoder().decode(bytes)))

describe("snapshots", () => {
  it("round-trip a state with maps, sets, byte arrays and big integers to the same digest", () => {
    const state = busyState()
    const { header, bytes } = takeSnapshot(state, 123)
    expect(header).toEqual({ version: SNAPSHOT_VERSION, seq: state.seq, digest: stateDigest(state), takenAt: 123 })
    const restored = restoreSnapshot(bytes)
    if (!restored.ok) throw new Error(restored.reason)
    expect(stateDigest(restored.state)).toBe(header.digest)
    expect(restored.state.jobs.get("j-1")?.sum).toBe(state.jobs.get("j-1")?.sum)
    expect(restored.state.jobs.get("j-1")?.status).toBeInstanceOf(Uint8Array)
    expect(restored.state.workers.get("w1")?.leases).toBeInstanceOf(Set)
  })

  it("refuses garbage, another version, a tampered state and a wrong sequence, saying why", () => {
    const { bytes } = takeSnapshot(busyState(), 1)
    expect(restoreSnapshot(new Uint8Array([0xff, 0xfe, 0x00]))).toMatchObject({ ok: false, reason: expect.stringMatching(/^not a readable snapshot/) })
    expect(restoreSnapshot(new TextEncoder().encode("{}"))).toEqual({ ok: false, reason: "not a snapshot: header or state missing" })
    expect(restoreSnapshot(tamper(bytes, (t) => t.replace(`"version":${SNAPSHOT_VERSION}`, '"version":99')))).toEqual({ ok: false, reason: `snapshot version 99, this dtq reads ${SNAPSHOT_VERSION}` })
    expect(restoreSnapshot(tamper(bytes, (t) => t.replace('"done":1', '"done":2')))).toMatchObject({ ok: false, reason: expect.stringMatching(/^digest mismatch/) })
    expect(restoreSnapshot(bytes.slice(0, bytes.length - 10))).toMatchObject({ ok: false })
  })
})

describe("snapshots in a process where a library gave Set a toJSON (vega-lite does)", () => {
  it("still keep Sets as Sets, and the digest holds", () => {
    const proto = Set.prototype as unknown as { toJSON?: () => unknown }
    const had = Object.hasOwn(proto, "toJSON")
    proto.toJSON = function (this: Set<unknown>) {
      return `Set(${[...this].join(",")})`
    }
    try {
      const state = emptyState()
      state.activeJobs.add("j-1")
      const restored = restoreSnapshot(takeSnapshot(state, 1).bytes)
      expect(restored.ok).toBe(true)
      if (restored.ok) expect([...restored.state.activeJobs]).toEqual(["j-1"])
    } finally {
      if (!had) delete proto.toJSON
    }
  })
})
