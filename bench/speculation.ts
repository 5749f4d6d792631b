// Speculative execution against a straggler: N workers (default 4), one slowed 10x by the delay flag. The job's wall
// time with speculation on and off, as a ratio of the same job on 3 healthy workers (median of N runs).
//   node bench/speculation.ts [--runs N] [--tasks N] [--task-ms MS]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { startLocalServer } from "../src/nats/local-server.ts"
import { spawnRole, stopChild, type Child } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    tasks: { type: "string", default: "96" },
    "task-ms": { type: "string", default: "200" },
    workers: { type: "string", default: "4" }
  }
})
const runs = Number(values.runs)
const tasks = Number(values.tasks)
const taskMs = Number(values["task-ms"])
const workers = Number(values.workers)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

type Scenario = { name: string; slowWorker: boolean; speculation: boolean }
const scenarios: Scenario[] = [
  { name: `${workers} healthy workers`, slowWorker: false, speculation: true },
  { name: `1 of ${workers} slowed 10x, speculation on`, slowWorker: true, speculation: true },
  { name: `1 of ${workers} slowed 10x, speculation off`, slowWorker: true, speculation: false }
]

const measure = async (scenario: Scenario): Promise<{ ms: number; copies: number }[]> => {
  const storeDir = mkdtempSync(join(tmpdir(), "dtq-bench-spec-"))
  const server = await startLocalServer({ storeDir })
  const children: Child[] = []
  const results: { ms: number; copies: number }[] = []
  try {
    children.push(await spawnRole("coordinator", ["coordinator", "--nats", server.url], /leading as/))
    const delays = Array.from({ length: workers }, (_, i) => (scenario.slowWorker && i === workers - 1 ? taskMs * 10 : taskMs))
    for (const [i, delay] of delays.entries()) {
      const args = ["worker", "--nats", server.url, "--id", `w${i + 1}`, "--slots", "4", "--delay-rate", "1", "--delay-ms", String(delay)]
      children.push(await spawnRole(`w${i + 1}`, args, /joined with/))
    }
    const client = await Client.connect(server.url)
    for (let run = 0; run < runs; run++) {
      const t0 = performance.now()
      const outcome = await client.run({ kind: "sum", from: "1", to: String(tasks * 1000), tasks, speculation: scenario.speculation })
      const ms = performance.now() - t0
      if (outcome.state !== "completed") throw new Error(`${scenario.name}: job ${outcome.state}`)
      const { state } = await client.replay()
      let copies = 0
      for (const job of state.jobs.values()) if (job.jobId === outcome.jobId) copies = job.attempts.reduce((n, a) => n + Math.max(0, a - 1), 0)
      results.push({ ms, copies })
    }
    await client.close()
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 3000)))
    await server.stop()
    rmSync(storeDir, { recursive: true, force: true })
  }
  return results
}

console.log(`${tasks} tasks of ${taskMs} ms on ${workers} workers x 4 slots; the slow worker takes ${taskMs * 10} ms per task; median of ${runs} runs`)
// With one worker at a tenth of its speed the cluster keeps (workers - 0.9) workers' worth of capacity:
// no scheduler can do better than this ratio.
console.log(`capacity floor: ${(workers / (workers - 0.9)).toFixed(2)}x the healthy time`)
let baseline = 0
for (const scenario of scenarios) {
  const results = await measure(scenario)
  const ms = median(results.map((r) => r.ms))
  if (baseline === 0) baseline = ms
  console.log(
    `RESULT ${scenario.name}: ${Math.round(ms)} ms (${(ms / baseline).toFixed(2)}x the healthy time), ` +
      `extra attempts per run: ${results.map((r) => r.copies).join(", ")}`
  )
}
