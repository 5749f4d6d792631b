// Training benchmarks on a local cluster (nats-server, coordinator and worker processes started here):
//   node bench/training.ts java       the Java predecessor's job (sync and async), job time and accuracy
//   node bench/training.ts accuracy   softmax, mlp and logreg binary_is_zero in sync, async and avg, 2 workers
//   node bench/training.ts letters    mlp on the letter data set (../shared/data/letters)
//   node bench/training.ts overhead   epoch time with 1 and 2 workers against the same kernels in one process
// Several sections may be given; each prints a table (docs/benchmarks.md, docs/training.md).
import { resolve } from "node:path"
import type { Client } from "../src/producer/client.ts"
import { withCluster } from "./with-cluster.ts"
import { parseCsvFiles } from "../src/data/csv.ts"
import { readDataFiles } from "../src/data/files.ts"
import { prepareTrainingData } from "../src/training/job-data.ts"
import { trainLocally } from "../src/training/local-trainer.ts"
import type { ResolvedTrainSpec } from "../src/domain/job-spec.ts"

const sections = process.argv.slice(2)
const LETTERS = resolve(import.meta.dirname, "../../shared/data/letters")

type Run = { jobId: string; ms: number; accuracy: number | null; epochs: ReadonlyArray<{ ms: number; samplesPerSec: number }>; spec: ResolvedTrainSpec }


const train = async (client: Client, request: Record<string, unknown>): Promise<Run> => {
  const { jobId, spec } = await client.train(request)
  const outcome = await client.wait(jobId)
  if (outcome.state !== "completed") throw new Error(`${jobId} ${outcome.state}: ${outcome.reason}`)
  const view = await client.job(jobId)
  const finished = view?.training?.finished
  return { jobId, ms: outcome.durationMs ?? NaN, accuracy: finished?.testAccuracy ?? null, epochs: view?.training?.epochs ?? [], spec: spec as ResolvedTrainSpec }
}

const row = (cells: ReadonlyArray<string | number>) => console.log(`| ${cells.join(" | ")} |`)
const acc = (a: number | null) => (a === null ? "-" : a.toFixed(4))

if (sections.includes("java")) {
  console.log("\n## The Java predecessor's job (2 workers)\n")
  row(["mode", "job time ms", "test accuracy"])
  row(["---", "---", "---"])
  await withCluster("training", 2, async (client) => {
    for (const mode of ["sync", "async"]) {
      for (let i = 0; i < 3; i++) {
        const r = await train(client, { model: "logreg", task: "binary_is_zero", samples: 2000, features: 784, epochs: 1, batchSize: 128, lr: 0.1, seed: 42, mode })
        row([mode, r.ms, acc(r.accuracy)])
      }
    }
  })
}

const only = process.env.MODELS?.split(",")
if (sections.includes("accuracy")) {
  console.log("\n## Shipped MNIST subset (8,000 train / 2,000 test), 2 workers, default settings per model\n")
  row(["model", "mode", "epochs", "test accuracy", "job time s"])
  row(["---", "---", "---", "---", "---"])
  await withCluster("training", 2, async (client) => {
    for (const [model, extra] of [["logreg", { task: "binary_is_zero" }], ["softmax", {}], ["mlp", {}]] as const) {
      for (const mode of ["sync", "async", "avg"] as const) {
        if (only !== undefined && !only.includes(`${model}:${mode}`) && !only.includes(model)) continue
        // avg makes one version per round: more rounds, each a pass over the shard, stand in for the steps.
        const avg = mode === "avg" ? { epochs: model === "mlp" ? 15 : model === "softmax" ? 10 : 3, lrDecay: model === "mlp" ? 0.9 : 0.8 } : {}
        // Async applies each share's gradient alone, on a model a version or two old: a few more epochs.
        const async = mode === "async" ? (model === "mlp" ? { epochs: 15, lr: 0.3, lrDecay: 0.95 } : model === "softmax" ? { epochs: 10, lr: 0.5, lrDecay: 0.9 } : { epochs: 2 }) : {}
        const r = await train(client, { model, mode, ...extra, ...avg, ...async })
        row([model, mode, r.spec.epochs, acc(r.accuracy), (r.ms / 1000).toFixed(2)])
      }
    }
  })
}

if (sections.includes("letters")) {
  console.log("\n## Letter recognition: mlp (16,500 train / 3,499 validation), 2 workers\n")
  row(["mode", "hidden", "epochs", "validation accuracy", "job time s"])
  row(["---", "---", "---", "---", "---"])
  await withCluster("training", 2, async (client) => {
    for (const mode of ["sync", "avg"] as const) {
      const r = await train(client, {
        model: "mlp",
        mode,
        data: `${LETTERS}/train_letters*.txt`,
        test: `${LETTERS}/validate_letters.txt`,
        csvLabel: "last",
        normalize: "minmax",
        hidden: 128,
        epochs: mode === "avg" ? 60 : 40,
        batchSize: 128,
        lr: 2,
        lrDecay: 0.97,
        ...(mode === "avg" ? { localEpochs: 1 } : {})
      })
      row([mode, 128, r.spec.epochs, acc(r.accuracy), (r.ms / 1000).toFixed(1)])
    }
  })
}

if (sections.includes("overhead")) {
  console.log("\n## Distributed overhead: mean epoch time (epochs 2 and later), sync mode, same kernels\n")
  row(["model", "in one process ms", "1 worker ms", "ratio", "2 workers ms", "ratio"])
  row(["---", "---", "---", "---", "---", "---"])
  const requests = [
    { model: "softmax", epochs: 4, batchSize: 256, lr: 1, lrDecay: 0.7 },
    { model: "mlp", epochs: 3, batchSize: 64, lr: 0.5, lrDecay: 0.9, hidden: 128 }
  ]
  const cluster: Record<number, Run[]> = {}
  for (const workers of [1, 2]) {
    cluster[workers] = await withCluster("training", workers, async (client) => {
      const runs: Run[] = []
      for (const request of requests) runs.push(await train(client, { ...request, mode: "sync", workers }))
      return runs
    })
  }
  const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
  for (const [i, request] of requests.entries()) {
    const one = cluster[1]?.[i] as Run
    const two = cluster[2]?.[i] as Run
    // The same kernels, the same batches, in this process: the spec the cluster resolved, on the same data.
    const [train, test] = await Promise.all(["data/mnist/train.csv.gz", "data/mnist/test.csv.gz"].map(async (f) => parseCsvFiles(await readDataFiles(f), { label: "first" })))
    const data = prepareTrainingData(one.spec, train!, test!)
    const local = trainLocally({ shape: data.shape, target: data.target, train: data.train, test: data.test, epochs: one.spec.epochs, batchSize: one.spec.batchSize, lr: one.spec.lr, lrDecay: one.spec.lrDecay, seed: one.spec.seed, init: one.spec.init === "random" ? "random" : "zeros" })
    const inProcess = mean(local.epochs.slice(1).map((e) => e.ms))
    const oneMs = mean(one.epochs.slice(1).map((e) => e.ms))
    const twoMs = mean(two.epochs.slice(1).map((e) => e.ms))
    row([request.model, inProcess.toFixed(0), oneMs.toFixed(0), (oneMs / inProcess).toFixed(2), twoMs.toFixed(0), (twoMs / inProcess).toFixed(2)])
  }
}

if (sections.length === 0) console.log("give one or more sections: java accuracy letters overhead")
