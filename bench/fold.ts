// Where the time of a replay goes, in one process (no NATS): JSON.parse, Schema decoding, the fold.
// Events as in bench/recovery.ts: one lease and one result per event (the worst case), N of them.
//   node bench/fold.ts [--events N]
import { parseArgs } from "node:util"
import { decodeEvent, encodeEvent } from "../src/domain/event-codec.ts"
import type { DtqEvent } from "../src/domain/events.ts"
import { rangeInput, resolveSpec, type ResolvedSumSpec } from "../src/domain/job-spec.ts"
import { rangeSum } from "../src/domain/range-sum.ts"
import { foldMessage } from "../src/projections/fold-message.ts"
import { emptyState } from "../src/projections/state.ts"

const { values } = parseArgs({ options: { events: { type: "string", default: "400000" } } })
const tasks = Math.ceil(Number(values.events) / 2)
const spec = resolveSpec({ kind: "sum", from: "1", to: String(tasks * 10), tasks }) as ResolvedSumSpec
const jobId = "j-foldbench"
const env = <R extends "coordinator" | "worker" | "producer">(role: R, id: string, i: number) => ({ id: `${role}-${i}`, v: 1 as const, ts: 1_700_000_000_000 + i, writer: { role, id } })
const events: DtqEvent[] = [
  { type: "CoordinatorElected", ...env("coordinator", "c", 0), epoch: 1, host: "h", pid: 1 },
  { type: "WorkerJoined", ...env("worker", "w", 1), workerId: "w", slots: 1, host: "h", pid: 2, kinds: ["sum"] },
  { type: "JobSubmitted", ...env("producer", "p", 2), jobId, spec },
  { type: "TasksScheduled", ...env("coordinator", "c", 3), epoch: 1, jobId, count: tasks }
]
for (let index = 0; index < tasks; index++) {
  const input = rangeInput(spec, index)
  events.push({ type: "TaskLeased", ...env("coordinator", "c", 4 + 2 * index), epoch: 1, workerId: "w", leases: [{ jobId, index, attempt: 1, kind: "sum", input, deadline: 1_800_000_000_000 }] })
  events.push({ type: "TaskCompleted", ...env("worker", "w", 5 + 2 * index), workerId: "w", results: [{ jobId, index, attempt: 1, result: rangeSum("sum", BigInt(input.from), BigInt(input.to)).toString(), ms: 0.01 }] })
}
const encoded = events.map(encodeEvent)
const decoder = new TextDecoder()

const time = (label: string, f: () => void) => {
  f() // warm up
  const t0 = performance.now()
  f()
  const s = (performance.now() - t0) / 1000
  console.log(`RESULT ${label}: ${Math.round(encoded.length / s)} events/s`)
}
time("JSON.parse only", () => {
  for (const bytes of encoded) JSON.parse(decoder.decode(bytes))
})
time("decode (JSON.parse + Schema)", () => {
  for (const bytes of encoded) decodeEvent(bytes)
})
time("fold (decode + apply)", () => {
  const state = emptyState()
  for (let i = 0; i < encoded.length; i++) foldMessage(state, i + 1, encoded[i] as Uint8Array)
  if (state.jobs.get(jobId)?.done !== tasks) throw new Error("fold went wrong")
})
// As the coordinator and replay fold: with each message's stored time (the fold's clock) and subject.
time("fold with stored times (decode + apply)", () => {
  const state = emptyState()
  for (let i = 0; i < encoded.length; i++) foldMessage(state, { seq: i + 1, time: 1_700_000_000_003 + i, subject: "dtq.ev" }, encoded[i] as Uint8Array)
  if (state.jobs.get(jobId)?.done !== tasks) throw new Error("fold went wrong")
})
