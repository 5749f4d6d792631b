// Single-task round trip: submit one task, await its result, repeat. A real nats-server (file store), a
// coordinator and one worker as child processes, the typed client here. Prints p50/p90/p99 next to
// BullMQ's p50 on this machine, and where the time goes (from the events' own timestamps).
//   node bench/latency.ts [--n 2000] [--warmup 200] [--burst 5000] [--slots 4]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { LocalCluster } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"
import { decodeEvent } from "../src/domain/event-codec.ts"
import { noop } from "./tasks/noop.ts"

const BULLMQ_P50_MS = 1.7 // measured on this machine: BullMQ on Redis, one no-op job, submit to result

const { values } = parseArgs({
  options: { n: { type: "string", default: "2000" }, warmup: { type: "string", default: "200" }, burst: { type: "string", default: "5000" }, slots: { type: "string", default: "4" } }
})
const n = Number(values.n)
const warmup = Number(values.warmup)
const burst = Number(values.burst)

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number

const storeDir = mkdtempSync(join(tmpdir(), "dtq-bench-latency-"))
const cluster = await LocalCluster.start({ workers: 1, slots: Number(values.slots), storeDir, workerArgs: ["--tasks", resolve(import.meta.dirname, "tasks/noop.ts")] })
const client = await Client.connect(cluster.url)
try {
  for (let i = 0; i < warmup; i++) await client.submit(noop, { i }, { timeout: 10_000 })
  const firstSeq = (await client.log.lastSeq()) + 1
  const ms: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    const out = await client.submit(noop, { i }, { timeout: 10_000 })
    ms.push(performance.now() - t0)
    if (out.i !== i) throw new Error(`task ${i} returned ${out.i}`)
  }
  const sorted = [...ms].sort((a, b) => a - b)
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length
  console.log(`round trips: ${n}, mean ${mean.toFixed(2)} ms, p50 ${quantile(sorted, 0.5).toFixed(2)} ms, p90 ${quantile(sorted, 0.9).toFixed(2)} ms, p99 ${quantile(sorted, 0.99).toFixed(2)} ms, max ${sorted.at(-1)?.toFixed(2)} ms`)

  // Where the time goes: the gap between consecutive events of each job (writers' clocks, ms resolution).
  const stages = new Map<string, number[]>()
  const byJob = new Map<string, Map<string, number>>()
  await client.log.readRange(firstSeq, undefined, (m) => {
    const d = decodeEvent(m.data)
    if (!d.ok) return
    const e = d.event
    const jobIds = "jobId" in e ? [e.jobId] : e.type === "TaskLeased" ? e.leases.map((l) => l.jobId) : e.type === "TaskCompleted" ? e.results.map((r) => r.jobId) : []
    for (const jobId of jobIds) {
      const times = byJob.get(jobId) ?? new Map<string, number>()
      if (!times.has(e.type)) times.set(e.type, e.ts)
      byJob.set(jobId, times)
    }
  })
  const order = ["JobSubmitted", "TasksScheduled", "TaskLeased", "TaskCompleted", "JobCompleted"]
  for (const times of byJob.values()) {
    for (let k = 1; k < order.length; k++) {
      const a = times.get(order[k - 1] as string)
      const b = times.get(order[k] as string)
      if (a === undefined || b === undefined) continue
      const key = `${order[k - 1]} -> ${order[k]}`
      stages.set(key, [...(stages.get(key) ?? []), b - a])
    }
  }
  for (const [stage, gaps] of stages) console.log(`  ${stage.padEnd(32)} mean ${(gaps.reduce((a, b) => a + b, 0) / gaps.length).toFixed(2)} ms`)
  // Many single-task jobs at once (each its own job, as `submit` makes them): how fast they drain.
  const t0 = performance.now()
  const all = await Promise.all(Array.from({ length: burst }, (_, i) => client.submit(noop, { i }, { timeout: 120_000 })))
  const seconds = (performance.now() - t0) / 1000
  if (all.some((out, i) => out.i !== i)) throw new Error("a burst result is wrong")
  console.log(`RESULT burst: ${burst} single-task jobs submitted at once, all done in ${seconds.toFixed(2)} s = ${Math.round(burst / seconds)} jobs/s`)
  console.log(`RESULT single-task round trip: p50 ${quantile(sorted, 0.5).toFixed(2)} ms, p99 ${quantile(sorted, 0.99).toFixed(2)} ms; BullMQ p50 ${BULLMQ_P50_MS} ms (${(quantile(sorted, 0.5) / BULLMQ_P50_MS).toFixed(2)}x)`)
} finally {
  await client.close()
  await cluster.stop()
  rmSync(storeDir, { recursive: true, force: true })
}
