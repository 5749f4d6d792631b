// Bytes per event by type (issue 15): a real local cluster (nats-server, coordinator, 2 workers with
// default settings) runs a sum job of T tasks; then every stored event is read back and its payload and
// header bytes summed per type. Prints a table for docs/benchmarks.md.
//   node bench/event-sizes.ts [--tasks 20000] [--slots 4]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { LocalCluster } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"
import { EVENTS_STREAM } from "../src/nats/subjects.ts"

const { values } = parseArgs({ options: { tasks: { type: "string", default: "20000" }, slots: { type: "string", default: "4" } } })
const tasks = Number(values.tasks)
const storeDir = mkdtempSync(join(tmpdir(), "dtq-bench-sizes-"))
const cluster = await LocalCluster.start({ workers: 2, slots: Number(values.slots), storeDir })
const client = await Client.connect(cluster.url)
try {
  const outcome = await client.run({ kind: "sum", from: "1", to: String(tasks * 1000), tasks })
  if (outcome.state !== "completed") throw new Error(`the job ${outcome.state}: ${outcome.reason}`)
  const byType = new Map<string, { n: number; payload: number; items: number }>()
  await client.log.readRange(1, undefined, (m) => {
    const event = JSON.parse(new TextDecoder().decode(m.data)) as { type: string; leases?: unknown[]; results?: unknown[]; beats?: unknown[] }
    const row = byType.get(event.type) ?? { n: 0, payload: 0, items: 0 }
    row.n++
    row.payload += m.data.byteLength
    row.items += (event.leases ?? event.results ?? event.beats ?? [null]).length
    byType.set(event.type, row)
  })
  const state = (await client.log.jsm.streams.info(EVENTS_STREAM)).state
  console.log(`| event | count | payload bytes per event | items per event | payload bytes per item |`)
  console.log(`| --- | ---: | ---: | ---: | ---: |`)
  for (const [type, r] of [...byType.entries()].sort((a, b) => b[1].payload - a[1].payload)) {
    console.log(`| ${type} | ${r.n} | ${(r.payload / r.n).toFixed(0)} | ${(r.items / r.n).toFixed(1)} | ${(r.payload / r.items).toFixed(0)} |`)
  }
  const payload = [...byType.values()].reduce((a, r) => a + r.payload, 0)
  console.log(`RESULT ${tasks} tasks: ${state.messages} events, stream ${state.bytes} B (${(state.bytes / tasks).toFixed(1)} B per task; payloads ${payload} B, so ${((state.bytes - payload) / state.messages).toFixed(0)} B per event of subject, headers and storage)`)
} finally {
  await client.close()
  await cluster.stop()
  rmSync(storeDir, { recursive: true, force: true })
}
