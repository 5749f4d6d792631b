// Recovery and failover:
//  1. failover: a leader killed with SIGKILL mid-job, a hot standby running: time from the kill to the
//     first decision of the new leader (median of N runs);
//  2. recovery of a fresh coordinator with 1,000,000 events in the log, without and with a snapshot;
//  3. full replay rate (decode + fold) next to the raw JetStream read rate, in the same run.
//   node bench/recovery.ts [--runs N] [--events N]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { startLocalServer, type LocalServer } from "../src/nats/local-server.ts"
import { spawnRole, stopChild, type Child } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"
import { rangeInput, resolveSpec, taskInput, type ResolvedSumSpec } from "../src/domain/job-spec.ts"
import { rangeSum } from "../src/domain/range-sum.ts"
import type { DtqEvent } from "../src/domain/events.ts"

const { values } = parseArgs({
  options: { runs: { type: "string", default: "5" }, events: { type: "string", default: "1000000" }, "skip-failover": { type: "boolean", default: false } }
})
const runs = Number(values.runs)
const targetEvents = Number(values.events)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

const withServer = async <T>(f: (server: LocalServer) => Promise<T>): Promise<T> => {
  const dir = mkdtempSync(join(tmpdir(), "dtq-bench-rec-"))
  const server = await startLocalServer({ storeDir: dir })
  try {
    return await f(server)
  } finally {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---- 1. failover ----
const failovers: number[] = []
for (let run = 0; run < (values["skip-failover"] ? 0 : runs); run++) {
  await withServer(async (server) => {
    const children: Child[] = []
    try {
      const leader = await spawnRole("leader", ["coordinator", "--nats", server.url], /leading as/)
      children.push(leader)
      let decidedAt = 0
      const watch = (_: string, line: string) => {
        const m = /first decision of epoch 2 at (\d+)/.exec(line)
        if (m !== null) decidedAt = Number(m[1])
      }
      const standby = await spawnRole("standby", ["coordinator", "--nats", server.url], /standing by/, watch)
      children.push(standby)
      for (const id of ["w1", "w2"]) children.push(await spawnRole(id, ["worker", "--nats", server.url, "--id", id, "--slots", "4", "--delay-rate", "1", "--delay-ms", "20"], /joined with/))
      const client = await Client.connect(server.url)
      const { jobId } = await client.submitJob({ kind: "sum", from: "1", to: "1000000", tasks: 2000 })
      while (((await client.job(jobId))?.done ?? 0) < 200) await new Promise((r) => setTimeout(r, 20))
      const killedAt = Date.now()
      leader.process.kill("SIGKILL")
      for (let i = 0; i < 300 && decidedAt === 0; i++) await new Promise((r) => setTimeout(r, 50))
      if (decidedAt === 0) throw new Error("the standby made no decision within 15 s")
      failovers.push(decidedAt - killedAt)
      const outcome = await client.wait(jobId)
      if (outcome.result !== rangeSum("sum", 1n, 1_000_000n).toString()) throw new Error(`wrong result ${outcome.result}`)
      await client.close()
    } finally {
      await Promise.all(children.map((c) => stopChild(c, 3000)))
    }
  })
}
if (failovers.length > 0) console.log(`RESULT failover (leader SIGKILL -> first decision of the standby): median ${median(failovers)} ms over ${runs} runs [${failovers.join(", ")}] (lease TTL 1000 ms)`)

// ---- 2 and 3. a log of N events; recovery and replay ----
await withServer(async (server) => {
  const client = await Client.connect(server.url)
  const tasks = Math.ceil((targetEvents - 4) / 2)
  const spec = resolveSpec({ kind: "sum", from: "1", to: String(tasks * 10), tasks, maxAttempts: 3 }) as ResolvedSumSpec
  const jobId = "j-bench1m"
  const env = <R extends "coordinator" | "worker" | "producer">(role: R, id: string, i: number) => ({
    id: `${role}-${i}-${id}`,
    v: 1 as const,
    ts: 1_700_000_000_000 + i,
    writer: { role, id }
  })
  const events: Array<() => DtqEvent> = [
    () => ({ type: "CoordinatorElected", ...env("coordinator", "c-gen", 0), epoch: 1, host: "bench", pid: 1 }),
    () => ({ type: "WorkerJoined", ...env("worker", "w-gen", 1), workerId: "w-gen", slots: 1, host: "bench", pid: 2, kinds: ["sum"] }),
    () => ({ type: "JobSubmitted", ...env("producer", "p-gen", 2), jobId, spec }),
    () => ({ type: "TasksScheduled", ...env("coordinator", "c-gen", 3), epoch: 1, jobId, count: tasks })
  ]
  const t0 = performance.now()
  let inFlight: Promise<number>[] = []
  let written = 0
  const write = async (event: DtqEvent) => {
    inFlight.push(client.log.append(event))
    written++
    if (inFlight.length >= 2000) {
      await Promise.all(inFlight)
      inFlight = []
    }
  }
  for (const make of events) await write(make())
  for (let index = 0; index < tasks; index++) {
    const i = 4 + 2 * index
    await write({ type: "TaskLeased", ...env("coordinator", "c-gen", i), epoch: 1, workerId: "w-gen", leases: [{ jobId, index, attempt: 1, kind: "sum", input: taskInput(spec, index), deadline: 1_800_000_000_000 }] })
    const { from, to } = rangeInput(spec, index)
    await write({ type: "TaskCompleted", ...env("worker", "w-gen", i + 1), workerId: "w-gen", results: [{ jobId, index, attempt: 1, result: rangeSum("sum", BigInt(from), BigInt(to)).toString(), ms: 0.01 }] })
  }
  await Promise.all(inFlight)
  const last = await client.log.lastSeq()
  console.log(`wrote ${written} events (${last} in the stream) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

  // 3. raw read rate and full replay rate, same run.
  let raw = 0
  const r0 = performance.now()
  await client.log.readRange(1, last, () => raw++)
  const rawRate = raw / ((performance.now() - r0) / 1000)
  const { state, ms } = await client.replay(last)
  const replayRate = state.seq / (ms / 1000)
  console.log(`RESULT read ${last} events: raw ${Math.round(rawRate)} events/s; full replay (decode + fold) ${Math.round(replayRate)} events/s (${(replayRate / rawRate).toFixed(2)}x raw); job ${state.jobs.get(jobId)?.done}/${tasks} done`)

  // 2. recovery of a fresh coordinator: without snapshots (the whole log), then from a snapshot.
  const recoveryMs = async (args: string[]): Promise<{ ms: number; line: string }> => {
    let line = ""
    const capture = (_: string, l: string) => {
      if (/recovered #/.test(l)) line = l
    }
    const c = await spawnRole("coordinator", ["coordinator", "--nats", server.url, ...args], /leading as/, capture, 180_000)
    await stopChild(c)
    return { ms: Number(/in (\d+) ms/.exec(line)?.[1] ?? NaN), line: line.replace(/^.*\] /, "") }
  }
  const full = await recoveryMs(["--no-snapshots"])
  console.log(`RESULT recovery with ${last} events, no snapshot: ${full.ms} ms (${full.line})`)
  // A leader writes a snapshot on its first tick once 20,000 events are past the last one.
  const writer = await spawnRole("coordinator", ["coordinator", "--nats", server.url], /leading as/, undefined, 180_000)
  for (let i = 0; i < 600; i++) {
    const info = await client.ask<{ snapshot: { how: string; seq: number; size: number } | null }>("info").catch(() => undefined)
    if (info?.snapshot?.how === "written") {
      console.log(`snapshot written at #${info.snapshot.seq}: ${info.snapshot.size} bytes`)
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await stopChild(writer)
  const fromSnapshot = await recoveryMs([])
  console.log(`RESULT recovery with ${last} events, from the snapshot: ${fromSnapshot.ms} ms (${fromSnapshot.line})`)
  await client.close()
})
