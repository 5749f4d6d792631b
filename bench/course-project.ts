// The course project's experiment on dtq (docs/benchmarks.md, "The course project's experiment"): an mlp
// with 20 hidden units trained on the letter data set by model averaging in rounds (each round, every one
// of 4 shares runs `localEpochs` passes over its shard, the coordinator averages), on 4 workers, under
// two scheduling policies (random and least-loaded placement) and per-worker load injection (a
// probability per round of a 3 s delay, or of refusing the round: the share is then placed again).
//
//   node bench/course-project.ts                 the whole 8-row table (as long as the project's runs)
//   ROWS=1,2 ROUNDS=10 node bench/course-project.ts   some rows, fewer rounds (a shared machine)
//
// Settings (env): ROUNDS (30), LOCAL_EPOCHS (10), HIDDEN (20), LR (0.0001), BATCH (1), NORMALIZE (none),
// DELAY_MS (3000), SLOTS (2 per worker, so that placement has a choice). The published result is the
// project's own (../shared/data/letters/README.md): 30 rounds x 10 local epochs, eta 0.0001, 725 s,
// 67.2 %; its 8 runs took 504-1010 s.
import { resolve } from "node:path"
import { rmSync } from "node:fs"
import { LocalCluster } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"

const LETTERS = resolve(import.meta.dirname, "../../shared/data/letters")
const env = (name: string, fallback: number): number => (process.env[name] === undefined ? fallback : Number(process.env[name]))
const ROUNDS = env("ROUNDS", 30)
const LOCAL_EPOCHS = env("LOCAL_EPOCHS", 10)
const HIDDEN = env("HIDDEN", 20)
const LR = env("LR", 0.0001)
const BATCH = env("BATCH", 1)
const DELAY_MS = env("DELAY_MS", 3000)
const SLOTS = env("SLOTS", 2)
const NORMALIZE = process.env.NORMALIZE ?? "none"

/** A load profile: the worker flags of each of the 4 workers. */
type Load = { readonly name: string; readonly flags: (worker: number) => string[] }
const delay = (p: number) => ["--delay-rate", String(p), "--delay-ms", String(DELAY_MS)]
const reject = (p: number) => ["--reject-rate", String(p)]
const LOADS: ReadonlyArray<Load> = [
  { name: "no load", flags: () => [] },
  { name: "every worker: 3 s delay p=0.3", flags: () => delay(0.3) },
  { name: "every worker: refuses p=0.2", flags: () => reject(0.2) },
  { name: "worker 1: delay p=0.6 and refuses p=0.3", flags: (w) => (w === 0 ? [...delay(0.6), ...reject(0.3)] : []) }
]
const POLICIES = ["random", "least-loaded"] as const
const TABLE = LOADS.flatMap((load) => POLICIES.map((placement) => ({ load, placement })))

const wanted = process.env.ROWS?.split(",").map(Number) ?? TABLE.map((_, i) => i + 1)
const row = (cells: ReadonlyArray<string | number>) => console.log(`| ${cells.join(" | ")} |`)

console.log(`\n## The course project's experiment: mlp ${HIDDEN} hidden, ${ROUNDS} rounds x ${LOCAL_EPOCHS} local epochs, lr ${LR}, batch ${BATCH}, normalize ${NORMALIZE}, 4 workers x ${SLOTS} slots\n`)
row(["row", "placement", "load", "dtq time s", "dtq validation accuracy", "rounds", "share retries", "published (all 8 runs)"])
row(["---", "---", "---", "---", "---", "---", "---", "---"])
for (const n of wanted) {
  const entry = TABLE[n - 1]
  if (entry === undefined) throw new Error(`ROWS: row ${n} does not exist (1..${TABLE.length})`)
  const storeDir = resolve(`.dtq/bench-course-project-${n}`)
  rmSync(storeDir, { recursive: true, force: true })
  const cluster = await LocalCluster.start({ workers: 4, slots: SLOTS, storeDir, workerArgsOf: entry.load.flags })
  const client = await Client.connect(cluster.url)
  try {
    const { jobId } = await client.train({
      model: "mlp",
      mode: "avg",
      data: `${LETTERS}/train_letters*.txt`,
      test: `${LETTERS}/validate_letters.txt`,
      csvLabel: "last",
      normalize: NORMALIZE,
      hidden: HIDDEN,
      epochs: ROUNDS,
      localEpochs: LOCAL_EPOCHS,
      batchSize: BATCH,
      lr: LR,
      lrDecay: 1,
      workers: 4,
      placement: entry.placement,
      // A refused round is retried: allow many over a long run (the project re-sent refused tasks).
      maxAttempts: 100
    })
    const outcome = await client.wait(jobId)
    const detail = (await client.jobDetail(jobId)).value
    const view = detail.job
    for (const e of detail.lastErrors ?? []) console.error(`row ${n}: share ${e.index}: ${e.error}`)
    if (outcome.state !== "completed") throw new Error(`row ${n}: ${jobId} ${outcome.state}: ${outcome.reason}`)
    const accuracy = view?.training?.finished?.testAccuracy
    row([n, entry.placement, entry.load.name, ((outcome.durationMs ?? NaN) / 1000).toFixed(1), accuracy === undefined || accuracy === null ? "-" : (100 * accuracy).toFixed(1) + " %", view?.training?.epochs.length ?? "-", view?.failures ?? "-", "504-1010 s, 67.2 % (30 x 10)"])
  } finally {
    await client.close()
    await cluster.stop()
    rmSync(storeDir, { recursive: true, force: true })
  }
}
