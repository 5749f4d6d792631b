// Re-records the old-log fixture (test/fixtures/old-log/): runs a real local cluster (nats-server, a
// coordinator, worker processes), submits a sum, a sum whose tasks fail and are retried, a sum that fails
// for good, a training job and an inference job on its model, then exports every stored message of the
// event stream (subject, headers, data, sequence, stored timestamp) and the job outcomes the log must
// replay to. Run it with the release whose log format you want to pin:
//   node_modules/.bin/node scripts/record-log-fixture.ts [--out DIR]   (default test/fixtures/old-log)
// The fixture of an earlier release must never be re-recorded over: record a new one next to it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { startLocalServer } from "../src/nats/local-server.ts"
import { spawnRole, stopChild, type Child } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"
import { EVENTS_STREAM } from "../src/nats/subjects.ts"
import { jobOutcomes, type FixtureMessage } from "../test/helpers/log-fixture.ts"

const outArg = process.argv.indexOf("--out")
const outDir = resolve(outArg >= 0 ? (process.argv[outArg + 1] ?? "") : "test/fixtures/old-log")
const say = (line: string) => process.stderr.write(`record-log-fixture: ${line}\n`)

const storeDir = mkdtempSync(join(tmpdir(), "dtq-fixture-"))
const server = await startLocalServer({ storeDir })
const children: Child[] = []
const role = async (name: string, args: string[], ready: RegExp) => {
  const child = await spawnRole(name, [...args, "--nats", server.url], ready)
  children.push(child)
  return child
}
let client: Client | undefined
try {
  say(`cluster on ${server.url} (store ${storeDir})`)
  await role("coordinator", ["coordinator"], /leading as/)
  const good = await role("good", ["worker", "--id", "good", "--slots", "2"], /joined with/)
  client = await Client.connect(server.url)

  say("a sum")
  const sum = await client.run({ kind: "sum", from: "1", to: "1000000", tasks: 8 })
  if (sum.state !== "completed") throw new Error(`the sum ended ${sum.state}: ${sum.reason}`)

  say("a training job")
  const { jobId: trainJob } = await client.train({ model: "logreg", task: "binary_is_zero", samples: 600, epochs: 1, batchSize: 100, workers: 1, seed: 7 })
  const trained = await client.wait(trainJob)
  if (trained.state !== "completed") throw new Error(`the training ended ${trained.state}: ${trained.reason}`)

  say("an inference job")
  const { jobId: inferJob } = await client.infer({ model: trainJob, batchSize: 250 })
  const inferred = await client.wait(inferJob)
  if (inferred.state !== "completed") throw new Error(`the inference ended ${inferred.state}: ${inferred.reason}`)

  // Only a flaky worker from here on: every task fails half of the time.
  await stopChild(good)
  await role("flaky", ["worker", "--id", "flaky", "--slots", "2", "--fail-rate", "0.5"], /joined with/)
  say("a sum whose failed tasks are retried")
  let retried = await client.run({ kind: "sum", from: "1", to: "1000", tasks: 8, maxAttempts: 30, backoffMs: 10 })
  for (let i = 0; i < 3 && (retried.state !== "completed" || (await client.job(retried.jobId))?.failures === 0); i++) {
    retried = await client.run({ kind: "sum", from: "1", to: "1000", tasks: 8, maxAttempts: 30, backoffMs: 10 })
  }
  if (retried.state !== "completed") throw new Error(`the retried sum ended ${retried.state}: ${retried.reason}`)
  say("a sum that fails (one attempt per task)")
  const failed = await client.run({ kind: "sumsq", from: "1", to: "100", tasks: 8, maxAttempts: 1 })
  say(`it ended ${failed.state}`)

  // Export once the coordinator has folded everything it wrote.
  await new Promise((r) => setTimeout(r, 1000))
  const last = await client.log.lastSeq()
  const messages: FixtureMessage[] = []
  const decoder = new TextDecoder("utf-8", { fatal: true })
  for (let seq = 1; seq <= last; seq++) {
    const m = await client.log.jsm.streams.getMessage(EVENTS_STREAM, { seq })
    if (m === null) continue
    const headers: Record<string, string[]> = {}
    for (const [key, values] of m.header ?? []) headers[key] = values
    messages.push({ seq: m.seq, subject: m.subject, headers, data: decoder.decode(m.data), timestamp: m.timestamp, time: m.time.getTime() })
  }
  const { state } = await client.replay(last)
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, "log.jsonl"), messages.map((m) => JSON.stringify(m)).join("\n") + "\n")
  writeFileSync(join(outDir, "outcomes.json"), JSON.stringify({ lastSeq: last, events: messages.length, jobs: jobOutcomes(state) }, null, 2) + "\n")
  say(`wrote ${messages.length} messages and ${state.jobs.size} job outcomes to ${outDir}`)
} finally {
  await client?.close()
  await Promise.all(children.map((c) => stopChild(c, 3000)))
  await server.stop()
  rmSync(storeDir, { recursive: true, force: true })
}
