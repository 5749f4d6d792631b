import { describe, expect, it } from "vitest"
import { decodeEvent, decodeEventValue, encodeEvent, type Decoded } from "../../src/domain/event-codec.ts"
import { EVENT_TYPES, isEventType, routingKey, TERM_KEY, type DtqEvent } from "../../src/domain/events.ts"
import * as F from "./fixtures.ts"

const spec = F.sumSpec(1, 100, 4, { name: "demo" })

/** One valid event of every type. */
const samples: DtqEvent[] = [
  F.jobSubmitted("j-1", spec),
  F.jobCancelRequested("j-1", "changed my mind"),
  F.jobCancelRequested("j-1"),
  F.workerJoined("w-1", 4, { prefetch: 8 }),
  F.workerJoined("w-1", 4, { prefetch: null }), // prefetch is optional
  F.workerDraining("w-1"),
  F.workerLeft("w-1"),
  F.progressBeat("w-1", [{ jobId: "j-1", index: 0, attempt: 1, progress: 0.5 }]),
  F.taskCompleted("w-1", [
    { jobId: "j-1", index: 0, attempt: 1, result: "325" },
    { jobId: "j-1", index: 1, attempt: 2, result: { nested: [1, "two", null] }, ms: 0 }
  ]),
  F.taskFailed("w-1", [{ jobId: "j-1", index: 2, attempt: 1, error: "boom", retryable: true }]),
  F.coordinatorElected(3),
  F.coordinatorStarted("c9"),
  F.tasksScheduled("j-1", 4),
  F.jobRejected("j-1", "no"),
  F.taskLeased("w-1", [{ jobId: "j-1", index: 0, attempt: 1, input: { op: "sum", from: "1", to: "25" } }]),
  F.taskLeased("w-2", [{ jobId: "j-1", index: 0, attempt: 2, speculative: true }]),
  F.retryScheduled("j-1", 2, 1, 1200),
  F.taskReclaimed("j-1", 2, 1, "stalled"),
  F.attemptAborted("w-1", "j-1", 2, 1),
  F.jobCompleted("j-1", "5050"),
  F.jobFailed("j-1", "task 2 failed"),
  F.jobCancelled("j-1", "by request"),
  F.workerLost("w-1"),
  F.jobsExpired(["j-1", "j-2"]),
  F.logCompacted(120, 130),
  ...F.trainingEvents("j-1"),
  ...F.inferenceEvents("j-1")
]

const refusedReason = (decoded: Decoded): string => {
  expect(decoded.ok).toBe(false)
  if (decoded.ok) throw new Error("unreachable")
  expect(typeof decoded.reason).toBe("string")
  return decoded.reason
}

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

describe("round trips", () => {
  it("the samples cover every event type", () => {
    expect(new Set(samples.map((e) => e.type))).toEqual(new Set(EVENT_TYPES))
    expect(EVENT_TYPES).toHaveLength(32)
    expect(EVENT_TYPES).toContain("AttemptAborted")
  })

  it("the optional fields stay optional: WorkerJoined without prefetch, a lease without speculative", () => {
    const joined = F.workerJoined("w-1", 4, { prefetch: null })
    expect(Object.hasOwn(joined, "prefetch")).toBe(false)
    expect(decodeEventValue(joined)).toEqual({ ok: true, event: joined })
    const leased = F.taskLeased("w-1", [{ jobId: "j-1", index: 0, attempt: 1 }])
    const decoded = decodeEventValue(leased)
    expect(decoded.ok && decoded.event.type === "TaskLeased" && Object.hasOwn(decoded.event.leases[0]!, "speculative")).toBe(false)
    const copy = F.taskLeased("w-1", [{ jobId: "j-1", index: 0, attempt: 2, speculative: true }])
    const decodedCopy = decodeEventValue(copy)
    expect(decodedCopy.ok && decodedCopy.event.type === "TaskLeased" && decodedCopy.event.leases[0]!.speculative).toBe(true)
    expect(refusedReason(decodeEventValue({ ...copy, leases: [{ ...copy.leases[0], speculative: "yes" }] }))).toMatch(
      /^TaskLeased: leases\[0\]\.speculative: /
    )
  })

  it("TaskReclaimed and AttemptAborted must name the worker", () => {
    const { workerId: _w1, ...reclaimed } = F.taskReclaimed("j-1", 2, 1, "stalled")
    expect(refusedReason(decodeEventValue(reclaimed))).toMatch(/^TaskReclaimed: workerId: /)
    const { workerId: _w2, ...aborted } = F.attemptAborted("w-1", "j-1", 2, 1)
    expect(refusedReason(decodeEventValue(aborted))).toMatch(/^AttemptAborted: workerId: /)
    expect(refusedReason(decodeEventValue({ ...F.attemptAborted("w-1", "j-1", 2, 1), attempt: 0 }))).toMatch(/^AttemptAborted: attempt: /)
  })

  for (const event of samples) {
    it(`${event.type} survives encodeEvent/decodeEvent unchanged`, () => {
      const decoded = decodeEvent(encodeEvent(event))
      expect(decoded).toEqual({ ok: true, event })
      expect(decodeEventValue(JSON.parse(JSON.stringify(event)))).toEqual({ ok: true, event })
    })
  }

  it("encodeEvent is UTF-8 JSON", () => {
    const event = F.jobSubmitted("j-1", F.sumSpec(1, 10, 2, { name: "naïve ✓ 名前" }))
    const bytes = encodeEvent(event)
    expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify(event))
    const decoded = decodeEvent(bytes)
    expect(decoded.ok && decoded.event.type === "JobSubmitted" && decoded.event.spec.name).toBe("naïve ✓ 名前")
  })

  it("unknown extra keys are dropped, not refused", () => {
    const event = F.jobCompleted("j-1", "5")
    const decoded = decodeEventValue({ ...event, extra: 1 })
    expect(decoded).toEqual({ ok: true, event })
  })
})

describe("refusals", () => {
  it("garbage bytes are not JSON", () => {
    expect(refusedReason(decodeEvent(new TextEncoder().encode("{")))).toMatch(/^not valid JSON/)
    expect(refusedReason(decodeEvent(new TextEncoder().encode("hello")))).toContain("JSON")
    expect(refusedReason(decodeEvent(new Uint8Array(0)))).toContain("JSON")
    expect(refusedReason(decodeEvent(new Uint8Array([0x00, 0x01, 0x02])))).toContain("JSON")
  })

  it("invalid UTF-8 is refused as not valid JSON", () => {
    // A lone continuation byte, and an overlong encoding inside an otherwise valid JSON object.
    expect(refusedReason(decodeEvent(new Uint8Array([0xff, 0xfe])))).toContain("JSON")
    const bytes = new Uint8Array([...new TextEncoder().encode('{"type":"'), 0xc0, 0xaf, ...new TextEncoder().encode('"}')])
    expect(refusedReason(decodeEvent(bytes))).toContain("JSON")
  })

  it("values that are not objects", () => {
    for (const v of [null, 5, "x", true, [], [F.jobCompleted("j", "1")]]) {
      expect(refusedReason(decodeEventValue(v))).toBe("not a JSON object")
      expect(refusedReason(decodeEvent(encode(v)))).toBe("not a JSON object")
    }
  })

  it("no type, unknown type, inherited property names", () => {
    expect(refusedReason(decodeEventValue({}))).toBe("no event type")
    expect(refusedReason(decodeEventValue({ ...F.jobCompleted("j", "1"), type: "JobExploded" }))).toBe('unknown event type "JobExploded"')
    for (const type of ["__proto__", "constructor", "toString", "hasOwnProperty", 5, null]) {
      expect(refusedReason(decodeEventValue({ type }))).toContain("unknown event type")
    }
    expect(isEventType("constructor")).toBe(false)
    expect(isEventType("JobCompleted")).toBe(true)
    // The reason quotes at most 80 characters of the type.
    expect(refusedReason(decodeEventValue({ type: "x".repeat(1000) })).length).toBeLessThan(120)
  })

  it("a wrong field type names the field path", () => {
    const event = F.taskCompleted("w-1", [{ jobId: "j-1", index: 0, attempt: 1, result: "1" }])
    const reason = refusedReason(decodeEventValue({ ...event, results: "not an array" }))
    expect(reason).toMatch(/^TaskCompleted: results: /)

    const badIndex = { ...event, results: [{ jobId: "j-1", index: -1, attempt: 1, result: "1", ms: 0 }] }
    expect(refusedReason(decodeEventValue(badIndex))).toMatch(/^TaskCompleted: results\[0\]\.index: /)

    const badAttempt = { ...event, results: [{ jobId: "j-1", index: 0, attempt: 0, result: "1", ms: 0 }] }
    expect(refusedReason(decodeEventValue(badAttempt))).toMatch(/^TaskCompleted: results\[0\]\.attempt: /)

    expect(refusedReason(decodeEventValue({ ...F.tasksScheduled("j-1", 4), count: "4" }))).toMatch(/^TasksScheduled: count: /)
    expect(refusedReason(decodeEventValue({ ...F.workerJoined("w-1", 4), slots: 0 }))).toMatch(/^WorkerJoined: slots: /)
    expect(refusedReason(decodeEventValue({ ...F.workerJoined("w-1", 4), slots: 4097 }))).toMatch(/^WorkerJoined: slots: /)
    expect(refusedReason(decodeEventValue({ ...F.workerJoined("w-1", 4), prefetch: -1 }))).toMatch(/^WorkerJoined: prefetch: /)
    expect(refusedReason(decodeEventValue({ ...F.workerJoined("w-1", 4), prefetch: 65_537 }))).toMatch(/^WorkerJoined: prefetch: /)
    expect(decodeEventValue({ ...F.workerJoined("w-1", 4), prefetch: 65_536 }).ok).toBe(true)
    expect(refusedReason(decodeEventValue({ ...F.jobCompleted("j", "1"), v: 2 }))).toMatch(/^JobCompleted: v: /)
    expect(refusedReason(decodeEventValue({ ...F.jobCompleted("j", "1"), ts: "now" }))).toMatch(/^JobCompleted: ts: /)
    const { epoch: _epoch, ...noEpoch } = F.jobCompleted("j", "1")
    expect(refusedReason(decodeEventValue(noEpoch))).toMatch(/^JobCompleted: epoch: /)
    expect(refusedReason(decodeEventValue({ ...F.jobSubmitted("j-1", spec), spec: { ...spec, tasks: 0 } }))).toMatch(/^JobSubmitted: spec\.tasks: /)
    expect(
      refusedReason(decodeEventValue({ ...F.progressBeat("w", [{ jobId: "j", index: 0, attempt: 1, progress: 1.5 }]) }))
    ).toMatch(/^ProgressBeat: beats\[0\]\.progress: /)
  })

  it("a decision written by a worker is refused, naming writer.role", () => {
    const event = { ...F.jobCompleted("j-1", "5050"), writer: { role: "worker", id: "w-1" } }
    expect(refusedReason(decodeEventValue(event))).toMatch(/^JobCompleted: writer\.role: /)
    expect(refusedReason(decodeEvent(encode(event)))).toContain("writer.role")
    // And the other way round: a worker fact written by the coordinator, a request written by a worker.
    const fact = { ...F.taskCompleted("w-1", []), writer: { role: "coordinator", id: "c1" } }
    expect(refusedReason(decodeEventValue(fact))).toMatch(/^TaskCompleted: writer\.role: /)
    const request = { ...F.jobSubmitted("j-1", spec), writer: { role: "worker", id: "w-1" } }
    expect(refusedReason(decodeEventValue(request))).toMatch(/^JobSubmitted: writer\.role: /)
  })

  it("ids must be subject-safe tokens", () => {
    const event = F.jobCompleted("j-1", "5050")
    for (const id of ["a b", "a.b", "a*", "a>", "", "x".repeat(65), "ü"]) {
      expect(refusedReason(decodeEventValue({ ...event, id })), JSON.stringify(id)).toMatch(/^JobCompleted: id: /)
    }
    expect(refusedReason(decodeEventValue({ ...event, jobId: "j.1" }))).toMatch(/^JobCompleted: jobId: /)
    expect(refusedReason(decodeEventValue({ ...event, writer: { role: "coordinator", id: "c 1" } }))).toMatch(
      /^JobCompleted: writer\.id: /
    )
    expect(decodeEventValue({ ...event, id: "x".repeat(64) }).ok).toBe(true)
    expect(decodeEventValue({ ...event, id: "A-z_09" }).ok).toBe(true)
  })
})

describe("routingKey", () => {
  it("routes worker events by worker, the term by TERM_KEY, the rest by job", () => {
    expect(routingKey(F.workerJoined("w-9", 1))).toBe("w-9")
    expect(routingKey(F.taskLeased("w-9", []))).toBe("w-9")
    expect(routingKey(F.workerLost("w-9"))).toBe("w-9")
    // Both tell a worker to drop an attempt: routed to that worker, not to the job.
    expect(routingKey(F.taskReclaimed("j-9", 0, 1, "stalled", {}, "w-9"))).toBe("w-9")
    expect(routingKey(F.attemptAborted("w-9", "j-9", 0, 1))).toBe("w-9")
    expect(routingKey(F.coordinatorElected(1))).toBe(TERM_KEY)
    expect(routingKey(F.jobSubmitted("j-9", spec))).toBe("j-9")
    expect(routingKey(F.retryScheduled("j-9", 0, 1, 2000))).toBe("j-9")
  })
})

// ---- fuzz ----

/** A small deterministic PRNG (mulberry32), so a failure is reproducible. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const FIELD_NAMES = [
  "type", "id", "v", "ts", "writer", "role", "epoch", "jobId", "workerId", "spec", "results", "failures", "leases",
  "beats", "index", "attempt", "result", "ms", "count", "slots", "kinds", "host", "pid", "reason", "__proto__", "constructor"
]

const randomValue = (rand: () => number, depth: number): unknown => {
  const pick = Math.floor(rand() * (depth > 3 ? 7 : 10))
  switch (pick) {
    case 0:
      return null
    case 1:
      return rand() < 0.5
    case 2:
      return [0, -1, 1, 1.5, 1e308, -0, 2 ** 53, 4097][Math.floor(rand() * 8)]
    case 3:
      return ["", "x", "a b", "coordinator", "worker", "producer", "5050", "ü✓", "\u0000"][Math.floor(rand() * 9)]
    case 4:
      return EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]
    case 5:
      return Math.floor(rand() * 1000)
    case 6:
      return "j-1"
    case 7:
      return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1))
    default: {
      const out: Record<string, unknown> = {}
      const n = Math.floor(rand() * 6)
      for (let i = 0; i < n; i++) out[FIELD_NAMES[Math.floor(rand() * FIELD_NAMES.length)]!] = randomValue(rand, depth + 1)
      return out
    }
  }
}

/** A sample event with one field replaced, removed, or mangled. */
const mutate = (rand: () => number, event: DtqEvent): unknown => {
  const copy = JSON.parse(JSON.stringify(event)) as Record<string, unknown>
  const keys = Object.keys(copy)
  const key = keys[Math.floor(rand() * keys.length)]!
  const how = rand()
  if (how < 0.3) delete copy[key]
  else if (how < 0.8) copy[key] = randomValue(rand, 2)
  else copy[FIELD_NAMES[Math.floor(rand() * FIELD_NAMES.length)]!] = randomValue(rand, 2)
  return copy
}

const isDecoded = (d: Decoded): boolean =>
  d.ok ? typeof d.event === "object" && isEventType(d.event.type) : typeof d.reason === "string" && d.reason.length > 0

describe("decoding is total", () => {
  it("never throws for random JSON-ish values", () => {
    const rand = prng(12345)
    let refused = 0
    for (let i = 0; i < 600; i++) {
      const value = randomValue(rand, 0)
      let decoded: Decoded | undefined
      expect(() => (decoded = decodeEventValue(value))).not.toThrow()
      expect(isDecoded(decoded!)).toBe(true)
      if (!decoded!.ok) refused++
      const bytes = encode(value === undefined ? null : value)
      expect(() => (decoded = decodeEvent(bytes))).not.toThrow()
      expect(isDecoded(decoded!)).toBe(true)
    }
    expect(refused).toBeGreaterThan(0)
  })

  it("never throws for mutated valid events, and whatever it accepts re-encodes to an accepted event", () => {
    const rand = prng(777)
    let accepted = 0
    let refused = 0
    for (let i = 0; i < 600; i++) {
      const value = mutate(rand, samples[i % samples.length]!)
      let decoded: Decoded | undefined
      expect(() => (decoded = decodeEventValue(value))).not.toThrow()
      expect(isDecoded(decoded!)).toBe(true)
      if (decoded!.ok) {
        accepted++
        // Compared in JSON form: JSON has no -0, so a -0 that went in as a value comes back as 0.
        expect(decodeEvent(encodeEvent(decoded!.event))).toEqual({ ok: true, event: JSON.parse(JSON.stringify(decoded!.event)) })
      } else refused++
    }
    expect(accepted).toBeGreaterThan(0)
    expect(refused).toBeGreaterThan(0)
  })

  it("never throws for random bytes, including invalid UTF-8", () => {
    const rand = prng(99)
    for (let i = 0; i < 400; i++) {
      const length = Math.floor(rand() * 40)
      const bytes = new Uint8Array(length)
      for (let j = 0; j < length; j++) bytes[j] = Math.floor(rand() * 256)
      // Half of them: a valid event with random bytes spliced in.
      const input =
        i % 2 === 0
          ? bytes
          : (() => {
              const valid = encodeEvent(samples[i % samples.length]!)
              const at = Math.floor(rand() * valid.length)
              return new Uint8Array([...valid.subarray(0, at), ...bytes, ...valid.subarray(at)])
            })()
      let decoded: Decoded | undefined
      expect(() => (decoded = decodeEvent(input))).not.toThrow()
      expect(isDecoded(decoded!)).toBe(true)
    }
  })

  it("never throws for odd objects", () => {
    const deep: unknown[] = []
    let cursor = deep
    for (let i = 0; i < 5000; i++) {
      const next: unknown[] = []
      cursor.push(next)
      cursor = next
    }
    const odd: unknown[] = [
      Object.create(null),
      Object.assign(Object.create(null), { type: "JobCompleted" }),
      { type: "TaskCompleted", results: deep },
      { ...F.taskCompleted("w-1", []), results: [{ jobId: "j", index: 0, attempt: 1, result: deep, ms: 1 }] },
      new Date(0),
      new Map([["type", "JobCompleted"]]),
      { type: new String("JobCompleted") }
    ]
    for (const value of odd) {
      let decoded: Decoded | undefined
      expect(() => (decoded = decodeEventValue(value))).not.toThrow()
      expect(isDecoded(decoded!)).toBe(true)
    }
    expect(() => decodeEvent(new TextEncoder().encode("[".repeat(100_000)))).not.toThrow()
  })
})

describe("bounds of the codec (issue 15)", () => {
  it("strips fields an event's schema does not know: they are never carried into the state", () => {
    const event = { ...F.workerLeft("w-1"), junk: "x".repeat(1000), nested: { deep: true } }
    const decoded = decodeEvent(new TextEncoder().encode(JSON.stringify(event)))
    expect(decoded.ok && Object.keys(decoded.event).sort()).toEqual(["id", "ts", "type", "v", "workerId", "writer"])
  })

  it("refuses a payload over the event size limit without parsing it", () => {
    const decoded = decodeEvent(new Uint8Array(1_000_001).fill(32))
    expect(decoded).toEqual({ ok: false, reason: "1000001 bytes, over the 1000000-byte event limit" })
  })
})
