// `npm run demo`: an embedded local cluster runs a few jobs end to end, then stops.
import { resolve } from "node:path"
import { rmSync } from "node:fs"
import { Client } from "../producer/client.ts"
import { duration, workersTable, progressBar } from "../producer/format.ts"
import { stateDigest } from "../projections/digest.ts"
import type { InfoReply } from "../coordinator/control.ts"
import type { WorkerView } from "../projections/views.ts"
import { LocalCluster } from "./local-cluster.ts"
import { followTraining } from "./train-command.ts"
import { plotSummary, runPlot } from "./plot-command.ts"

const say = (line = "") => process.stdout.write(`${line}\n`)

export const demoCommand = async (): Promise<number> => {
  const storeDir = resolve(".dtq/demo")
  rmSync(storeDir, { recursive: true, force: true })
  say("starting a local cluster: nats-server (JetStream), a coordinator, 3 workers ...")
  const cluster = await LocalCluster.start({ workers: 3, slots: 8, storeDir })
  say(`cluster up at ${cluster.url}\n`)
  const client = await Client.connect(cluster.url)
  try {
    const jobs: Array<[string, Record<string, unknown>]> = [
      ["sum of 1..10^25+2 (exact, in 100 tasks)", { kind: "sum", from: "1", to: "10000000000000000000000002", tasks: 100 }],
      ["sum of squares of 1..1,000,000 (in 1,000 tasks)", { kind: "sumsq", from: "1", to: "1000000", tasks: 1000 }],
      ["sum of -10^12..10^12 (in 10,000 tasks)", { kind: "sum", from: "-1000000000000", to: "1000000000000", tasks: 10000 }]
    ]
    for (const [title, spec] of jobs) {
      say(`job: ${title}`)
      const outcome = await client.run(spec, (p) => {
        if (process.stdout.isTTY) process.stdout.write(`\r  ${progressBar(p.done, p.tasks)}`)
      })
      if (process.stdout.isTTY) process.stdout.write("\r\x1b[K")
      say(`  ${outcome.jobId} ${outcome.state} in ${duration(outcome.durationMs)}: ${outcome.result ?? outcome.reason}\n`)
    }
    say("job: train softmax on the shipped MNIST subset (8,000 rows), 2 workers in sync mode")
    const { jobId } = await client.train({ model: "softmax", mode: "sync", workers: 2 })
    const outDir = resolve("demo-output")
    await followTraining(client, jobId, { json: false, outDir, print: (line) => say(`  ${line}`) })
    say("")
    say("job: batch inference with the trained model over the MNIST test set (2,000 rows in batches of 100)")
    const inference = await client.infer({ model: jobId, batchSize: 100 })
    const inferred = await client.wait(inference.jobId)
    say(`  ${inference.jobId} ${inferred.state} in ${duration(inferred.durationMs)}: ${inferred.result ?? inferred.reason}\n`)
    const { workers } = await client.ask<{ workers: WorkerView[] }>("workers")
    say(workersTable(workers, false))
    const info = await client.ask<InfoReply>("info")
    const replayed = await client.replay(info.appliedSeq)
    say(`\nthe log holds ${info.streamLastSeq} events; the coordinator's state digest at #${info.appliedSeq}:`)
    say(`  live   ${info.digest}`)
    say(`  replay ${stateDigest(replayed.state)} (rebuilt from the log in ${duration(replayed.ms)})`)
    const plotted = await runPlot(client, { outDir, format: "both" })
    say(`\ncharts from the log (as dtq plot): ${plotSummary(plotted, outDir)}`)
    say(`The training job's weights (CSV, and a PNG per class), logs/*.csv and charts/ (Vega-Lite specs, SVG, PNG) are in ${outDir}.`)
  } finally {
    await client.close()
    await cluster.stop()
  }
  say("cluster stopped.")
  return 0
}
