// Bounded resources over a long run (issue 15): a real nats-server (file store), a coordinator and 2
// worker processes with default settings. Mode `big`: N sum jobs of T tasks in a row; mode `small`: J
// single-task jobs (submitted 128 at a time). Prints the coordinator's RSS after each job (big) or each
// tenth of the jobs (small), the ratio of the last to the second, and stream bytes per task and per event.
// Run with NODE_OPTIONS=--expose-gc so that the coordinator collects garbage before each sample: the heap
// figure is then what it retains (RSS stays what the OS sees).
//   node bench/bounded.ts [--mode big|small|both] [--jobs 10] [--tasks 100000] [--small-jobs 100000] [--slots 4]
import { readFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { LocalCluster } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"
import { EVENTS_STREAM } from "../src/nats/subjects.ts"

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "both" },
    jobs: { type: "string", default: "10" },
    tasks: { type: "string", default: "100000" },
    "small-jobs": { type: "string", default: "100000" },
    slots: { type: "string", default: "4" },
    "coordinator-args": { type: "string", default: "" }
  }
})

const rssMb = (pid: number | undefined): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}

const withBenchCluster = async (f: (client: Client, coordinatorPid: number | undefined) => Promise<void>): Promise<void> => {
  const storeDir = mkdtempSync(join(tmpdir(), "dtq-bench-bounded-"))
  const coordinatorArgs = values["coordinator-args"] === "" ? [] : values["coordinator-args"].split(" ")
  const cluster = await LocalCluster.start({ workers: 2, slots: Number(values.slots), storeDir, coordinatorArgs })
  const client = await Client.connect(cluster.url)
  try {
    await f(client, cluster.coordinator.process.pid)
  } finally {
    await client.close()
    await cluster.stop()
    rmSync(storeDir, { recursive: true, force: true })
  }
}

type Memory = { rss: number; heapUsed: number }
const memory = async (client: Client): Promise<Memory> =>
  client.ask<{ memory: Memory }>("info", { gc: true }, 10_000).then((i) => i.memory, () => ({ rss: NaN, heapUsed: NaN }))
const heaps: number[] = []
const sample = async (client: Client, pid: number | undefined): Promise<number> => {
  heaps.push((await memory(client)).heapUsed / 2 ** 20)
  return rssMb(pid)
}
if (!process.execArgv.includes("--expose-gc") && !(process.env.NODE_OPTIONS ?? "").includes("--expose-gc")) {
  console.log("note: without NODE_OPTIONS=--expose-gc the heap figures include uncollected garbage")
}

const streamState = async (client: Client) => (await client.log.jsm.streams.info(EVENTS_STREAM)).state
const settle = () => new Promise((r) => setTimeout(r, 1500))

const report = (what: string, rss: number[], bytes: number, events: number, tasks: number) => {
  const second = rss[1] ?? NaN
  const last = rss.at(-1) ?? NaN
  console.log(`RESULT ${what}: coordinator RSS ${rss.map((r) => r.toFixed(0)).join(" → ")} MB; last/second ${(last / second).toFixed(3)}x`)
  const h = heaps.splice(0)
  console.log(`RESULT ${what}: coordinator heap used ${h.map((r) => r.toFixed(0)).join(" → ")} MB; last/second ${((h.at(-1) ?? NaN) / (h[1] ?? NaN)).toFixed(3)}x`)
  console.log(`RESULT ${what}: stream ${events} events, ${(bytes / 1e6).toFixed(1)} MB: ${(bytes / tasks).toFixed(1)} B per task, ${(bytes / events).toFixed(0)} B per event`)
}

if (values.mode === "big" || values.mode === "both") {
  await withBenchCluster(async (client, pid) => {
    const jobs = Number(values.jobs)
    const tasks = Number(values.tasks)
    const rss: number[] = []
    const t0 = performance.now()
    for (let i = 0; i < jobs; i++) {
      const t = performance.now()
      const outcome = await client.run({ kind: "sum", from: "1", to: String(tasks * 1000), tasks })
      if (outcome.state !== "completed") throw new Error(`job ${i + 1} ${outcome.state}: ${outcome.reason}`)
      await settle()
      rss.push(await sample(client, pid))
      console.log(`job ${i + 1}/${jobs}: ${tasks} tasks in ${((performance.now() - t) / 1000).toFixed(1)} s; coordinator RSS ${rss.at(-1)?.toFixed(1)} MB`)
    }
    const s = await streamState(client)
    console.log(`${jobs} jobs in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
    report(`${jobs} jobs x ${tasks} tasks`, rss, s.bytes, s.messages, jobs * tasks)
  })
}

if (values.mode === "small" || values.mode === "both") {
  await withBenchCluster(async (client, pid) => {
    const jobs = Number(values["small-jobs"])
    const tenth = Math.ceil(jobs / 10)
    const rss: number[] = []
    const t0 = performance.now()
    let lastFinished = 0
    // A busy coordinator may miss a 2 s request: the last answer stands until the next one.
    const finished = async () => {
      const r = await client.ask<{ retention?: { retained: number; expired: number } }>("jobs", {}, 10_000).then((v) => v.retention, () => undefined)
      if (r !== undefined) lastFinished = r.retained + r.expired
      return lastFinished
    }
    let submitted = 0
    for (let decile = 1; decile <= 10; decile++) {
      const until = Math.min(jobs, decile * tenth)
      while (submitted < until) {
        const batch = Math.min(128, until - submitted)
        await Promise.all(Array.from({ length: batch }, () => client.submitJob({ kind: "sum", from: "1", to: "1000", tasks: 1 })))
        submitted += batch
      }
      for (let waited = 0; (await finished()) < until; waited++) {
        if (waited % 20 === 19) console.log(`waiting for ${until} jobs to finish (${await finished()} so far)`)
        await new Promise((r) => setTimeout(r, 250))
      }
      await settle()
      rss.push(await sample(client, pid))
      console.log(`${until}/${jobs} single-task jobs done at ${((performance.now() - t0) / 1000).toFixed(0)} s; coordinator RSS ${rss.at(-1)?.toFixed(1)} MB`)
    }
    const s = await streamState(client)
    report(`${jobs} single-task jobs (RSS per tenth)`, rss, s.bytes, s.messages, jobs)
  })
}
