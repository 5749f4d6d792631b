// Throughput end to end: a real nats-server (file store), a coordinator and 2 worker processes;
// a job of 100,000 tasks of negligible work (each a closed-form sum of a chunk, about a microsecond).
// Prints tasks/s from submission to JobCompleted, and events written per task.
//   npm run bench:throughput [-- --tasks N --slots S --runs R]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { LocalCluster } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"

const BULLMQ_JOBS_PER_S = 10_000 // measured on this machine: BullMQ on Redis, no-op jobs, end to end

const { values } = parseArgs({
  options: {
    tasks: { type: "string", default: "100000" },
    slots: { type: "string", default: "4,16,64,256" },
    prefetch: { type: "string" }, // default: the worker's own (= slots)
    runs: { type: "string", default: "3" }
  }
})
const tasks = Number(values.tasks)
const runs = Number(values.runs)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

for (const slots of values.slots.split(",").map(Number)) {
  const storeDir = mkdtempSync(join(tmpdir(), "dtq-bench-"))
  const workerArgs = values.prefetch === undefined ? [] : ["--prefetch", values.prefetch]
  const cluster = await LocalCluster.start({ workers: 2, slots, storeDir, workerArgs })
  const client = await Client.connect(cluster.url)
  const rates: number[] = []
  const perTask: number[] = []
  try {
    for (let run = 0; run < runs; run++) {
      const before = await client.log.lastSeq()
      const t0 = performance.now()
      const outcome = await client.run({ kind: "sum", from: "1", to: String(tasks * 1000), tasks })
      const seconds = (performance.now() - t0) / 1000
      if (outcome.state !== "completed") throw new Error(`run ${run}: job ${outcome.state}: ${outcome.reason}`)
      const events = (await client.log.lastSeq()) - before
      rates.push(tasks / seconds)
      perTask.push(events / tasks)
      console.log(`slots ${slots} run ${run + 1}: ${tasks} tasks in ${seconds.toFixed(2)} s = ${Math.round(tasks / seconds)} tasks/s, ${events} events (${(events / tasks).toFixed(4)} per task)`)
    }
  } finally {
    await client.close()
    await cluster.stop()
    rmSync(storeDir, { recursive: true, force: true })
  }
  const rate = median(rates)
  console.log(
    `RESULT slots=${slots} prefetch=${values.prefetch ?? slots}: median ${Math.round(rate)} tasks/s over ${runs} runs, ${median(perTask).toFixed(4)} events/task, ` +
      `${(rate / BULLMQ_JOBS_PER_S).toFixed(2)}x BullMQ's ${BULLMQ_JOBS_PER_S} jobs/s`
  )
}
