// The Java predecessor's own command lines (its README and its demo file, jobs.txt), fed verbatim to
// `dtq producer` on a local cluster: each job runs to the exact result or an accuracy at least the
// predecessor's, or is refused at once with the predecessor's reason; the resume chain goes by
// user-chosen ids. Then inference with a model's own data options (issue 19).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Client } from "../../src/producer/client.ts"
import type { JobView } from "../../src/projections/views.ts"
import { SHIPPED_MNIST_TEST, SHIPPED_MNIST_TRAIN } from "../../src/data/shipped.ts"
import { startTestCluster, type TestCluster } from "../helpers/cluster.ts"

const MNIST = "dataRef=file:./data/train.csv|testRef=file:./data/mnist_test.csv|hasHeader=true|csvLabel=first|normalize=255"

/** The predecessor's demo file (src/de/luh/vss/chat/dtq/producer/jobs.txt), line for line. */
const DEMO_FILE = `# Demo jobs (copy into producer console)
# 1) SUM range
sum 1|10000000000000000000000002

# 2) SUMSQ range
sumsq 2|10000332323

# 3) MNIST quick sync
train type=TrainGdBatchJob|model=logreg|task=binary_is_zero|samples=2000|features=784|epochs=1|batchSize=128|lr=0.1|seed=42|${MNIST}|init=zeros|mode=sync

train type=TrainGdBatchJob|model=logreg|task=binary_is_seven|samples=2000|features=784|epochs=1|batchSize=128|lr=0.1|seed=42|${MNIST}|init=zeros|mode=sync

train type=TrainGdBatchJob|model=logreg|task=binary_is_five|samples=2000|features=784|epochs=1|batchSize=128|lr=0.1|seed=42|${MNIST}|init=zeros|mode=sync

# 4) MNIST quick async (sync vs async comparison)
train type=TrainGdBatchJob|jobId=MNIST_QUICK_ASYNC|model=logreg|task=binary_is_zero|samples=2000|features=784|epochs=1|batchSize=128|lr=0.1|seed=42|${MNIST}|init=zeros|mode=async

# 5) MNIST base run (longer)
train type=TrainGdBatchJob|jobId=MNIST_BASE|model=logreg|task=binary_is_zero|samples=40000|features=542|epochs=2|batchSize=48|lr=0.01|seed=32|${MNIST}|init=zeros|mode=sync

# 6) Resume MNIST_BASE with lower LR
resume MNIST_BASE|jobId=MNIST_BASE_LR2|epochs=1|lr=0.01|batchSize=128

# 7) MNIST binary_is_one variant
train type=TrainGdBatchJob|jobId=MNIST_ONE|model=logreg|task=binary_is_one|samples=60000|features=784|epochs=1|batchSize=256|lr=0.1|seed=7|${MNIST}|init=zeros|mode=sync

# 8) Linear regression baseline
train type=TrainGdBatchJob|jobId=MNIST_LIN|model=linreg|task=demo|samples=60000|features=784|epochs=1|batchSize=256|lr=0.01|seed=1|${MNIST}|init=zeros|mode=sync

# 9) Stock dataset (async)
train type=TrainGdBatchJob|jobId=STOCK_ASYNC|model=logreg|task=binary_is_one|samples=11971|features=15|epochs=3|batchSize=128|lr=0.1|seed=1|dataRef=file:./data/stock_train.csv|testRef=file:./data/stock_test.csv|hasHeader=true|csvLabel=first|normalize=1|mode=async

# 10) Negative test: invalid dataRef should fail fast
train type=TrainGdBatchJob|jobId=BAD_DATAREF|model=logreg|task=binary_is_one|samples=100|features=10|epochs=1|batchSize=32|lr=0.1|seed=1|dataRef=file:./data/does_not_exist.csv|testRef=file:./data/does_not_exist.csv|hasHeader=false|csvLabel=last|normalize=1|mode=sync
`

/** The README's resume form, a chain of user-chosen ids, and the same id claimed twice. */
const CHAIN = `resume MNIST_QUICK_ASYNC|jobId=QUICK_LR2|epochs=1|lr=0.01|batchSize=128
resume LAST|jobId=QUICK_LR3|lr=0.005
train type=TrainGdBatchJob|jobId=MNIST_QUICK_ASYNC|model=logreg|task=binary_is_zero|samples=2000|features=784|epochs=1|batchSize=128|lr=0.1|seed=42|${MNIST}|init=zeros|mode=async
train type=TrainGdBatchJob|jobId=MNIST_ONE|model=logreg|task=binary_is_two|samples=2000|${MNIST}
train type=SumJob|model=logreg
`

const sumTo = (n: bigint) => (n * (n + 1n)) / 2n
const sumSquaresTo = (n: bigint) => (n * (n + 1n) * (2n * n + 1n)) / 6n

describe("the predecessor's command lines, verbatim, at dtq producer", () => {
  let cluster: TestCluster
  let client: Client
  let cwd: string
  let output = ""
  let jobs: JobView[] = []
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.coordinator()
    await cluster.worker("p1", ["--slots", "4"])
    await cluster.worker("p2", ["--slots", "4"])
    client = await cluster.client()
    // A directory without the predecessor's data/ folder: its file names come from dtq's shipped data.
    cwd = mkdtempSync(join(tmpdir(), "dtq-predecessor-"))
    const r = await cluster.cli(["producer"], { input: DEMO_FILE + CHAIN, cwd, timeoutMs: 420_000 })
    output = r.stdout + r.stderr
    expect(r.code, output).toBe(0)
    jobs = (await client.jobs()).value.jobs
  }, 480_000)
  afterAll(async () => {
    await cluster?.cleanup()
    if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true })
  })

  const job = (jobId: string): JobView => {
    const found = jobs.find((j) => j.jobId === jobId)
    if (found === undefined) throw new Error(`no job ${jobId} in the cluster; the prompt said:\n${output}`)
    return found
  }
  const trainingJob = (task: string, mode: string): JobView => {
    const found = jobs.filter((j) => j.spec.kind === "train" && j.spec.task === task && j.spec.mode === mode && j.spec.resumedFrom === undefined && j.jobId.startsWith("j-"))
    expect(found, `${task} ${mode} jobs`).toHaveLength(1)
    return found[0] as JobView
  }

  it("sums the demo's ranges exactly", () => {
    const sum = jobs.find((j) => j.spec.kind === "sum")!
    const sumsq = jobs.find((j) => j.spec.kind === "sumsq")!
    expect([sum.state, sum.result]).toEqual(["completed", sumTo(10000000000000000000000002n).toString()])
    expect([sumsq.state, sumsq.result]).toEqual(["completed", (sumSquaresTo(10000332323n) - 1n).toString()])
  })

  it("trains logreg on digits 0, 5 and 7 in sync mode and 0 in async, at least the predecessor's accuracy", () => {
    const accuracy = (view: JobView) => {
      expect(view.state, `${view.jobId}: ${view.reason}`).toBe("completed")
      return view.training?.finished?.testAccuracy ?? 0
    }
    // The predecessor measured 0.955 (sync) and 0.970 (async) for binary_is_zero (docs/benchmarks.md).
    expect(accuracy(trainingJob("binary_is_zero", "sync"))).toBeGreaterThanOrEqual(0.955)
    // Async applies gradients in arrival order, which varies from run to run (0.954 to 0.970 seen for this
    // one epoch): the test bounds it below by that noise; the figure against the predecessor's is a benchmark's.
    expect(accuracy(job("MNIST_QUICK_ASYNC"))).toBeGreaterThanOrEqual(0.94)
    // Fives and sevens: the predecessor published no figure; one epoch at lr=0.1 is the same maths here, so
    // the bound is the test set's "never this digit" share (171 fives, 224 sevens of 2,000).
    expect(accuracy(trainingJob("binary_is_five", "sync"))).toBeGreaterThanOrEqual(1 - 171 / 2000)
    expect(accuracy(trainingJob("binary_is_seven", "sync"))).toBeGreaterThanOrEqual(1 - 224 / 2000)
    // normalize=255 is a fixed divisor, recorded as such; the predecessor's Kaggle header was skipped.
    const sync = trainingJob("binary_is_zero", "sync")
    expect(sync.spec).toMatchObject({ normalize: 255, hasHeader: true, csvLabel: "first", samples: 2000, features: 784 })
  })

  it("uses all 8,000 rows when samples= asks for more, and says so", () => {
    expect(job("MNIST_ONE").state).toBe("completed")
    expect(job("MNIST_ONE").spec).toMatchObject({ samples: 8000, samplesRequested: 60000 })
    expect(output).toContain("MNIST_ONE: samples=60000 asks for more rows than file:./data/train.csv has; training on all 8000")
    const lin = job("MNIST_LIN")
    expect([lin.state, lin.spec.kind === "train" && lin.spec.target.kind]).toEqual(["completed", "regression"])
    expect(lin.training?.finished?.testLoss).toBeLessThan(10) // the labels' variance on raw 0..9 is about 8.3
  })

  it("refuses the broken lines at once with the predecessor's reasons, naming key, value and what is accepted", () => {
    expect(output).toContain("bad job spec: features: is 542, but file:./data/train.csv has 784 feature columns (a features mismatch: give features=784 or leave it out)")
    expect(output).toContain("bad job spec: job: MNIST_BASE was refused at submission (features: is 542")
    expect(output).toMatch(/bad job spec: dataRef: DATAREF: \.\/data\/stock_train\.csv does not exist \(looked for .*stock_train\.csv and in dtq's shipped data folder/)
    expect(output).toMatch(/bad job spec: dataRef: DATAREF: \.\/data\/does_not_exist\.csv does not exist/)
    expect(output).toContain('bad job spec: type: "SumJob" is not a training job type: train accepts type=TrainGdBatchJob (or no type)')
    for (const refused of ["MNIST_BASE", "MNIST_BASE_LR2", "STOCK_ASYNC", "BAD_DATAREF"]) expect(jobs.some((j) => j.jobId === refused), refused).toBe(false)
  })

  it("resumes by user-chosen ids, LAST included, from each job's final weights", () => {
    const lr2 = job("QUICK_LR2")
    const lr3 = job("QUICK_LR3")
    expect([lr2.state, lr3.state]).toEqual(["completed", "completed"])
    expect(lr2.spec).toMatchObject({ resumedFrom: "MNIST_QUICK_ASYNC", lr: 0.01, init: "weights", mode: "async", normalize: 255 })
    expect(lr3.spec).toMatchObject({ resumedFrom: "QUICK_LR2", lr: 0.005 })
    expect(lr2.training?.finished?.testAccuracy).toBeGreaterThanOrEqual(0.955)
  })

  it("treats a user-chosen id as unique: the same line again is that job, another spec under it is refused", () => {
    expect(output).toContain("MNIST_QUICK_ASYNC was already submitted with this very spec: following it")
    expect(output).toMatch(/bad job spec: jobId: MNIST_ONE is taken: a train job with another spec was submitted under it at .* by p-\w+; choose another jobId/)
    expect(jobs.filter((j) => j.jobId === "MNIST_QUICK_ASYNC")).toHaveLength(1)
    expect(job("MNIST_ONE").spec).toMatchObject({ task: "binary_is_one" })
  })
})

describe("inference with a model's own data options", () => {
  let cluster: TestCluster
  let client: Client
  let dir: string
  /** Shipped MNIST rows with the label moved to the last column and no header: a layout that needs csvLabel=last. */
  const labelLast = (gz: string, rows: number, path: string) => {
    const lines = gunzipSync(readFileSync(gz)).toString("utf8").trimEnd().split("\n").slice(0, rows)
    writeFileSync(path, lines.map((line) => { const cells = line.split(","); return [...cells.slice(1), cells[0]].join(",") }).join("\n") + "\n")
  }
  beforeAll(async () => {
    cluster = await startTestCluster()
    await cluster.coordinator()
    await cluster.worker("i1", ["--slots", "4"])
    client = await cluster.client()
    dir = mkdtempSync(join(tmpdir(), "dtq-infer-options-"))
    labelLast(SHIPPED_MNIST_TRAIN, 2000, join(dir, "train.csv"))
    labelLast(SHIPPED_MNIST_TEST, 500, join(dir, "test.csv"))
  }, 60_000)
  afterAll(async () => {
    await cluster?.cleanup()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("predicts the model's test data exactly as training scaled it, with no data options or with the training job's own keys", async () => {
    const { jobId: model } = await client.train(
      { model: "softmax", data: join(dir, "train.csv"), test: join(dir, "test.csv"), csvLabel: "last", hasHeader: false, normalize: "zscore", epochs: 2 },
      { jobId: "LETTERLESS_MODEL" }
    )
    const trained = await client.wait(model)
    expect(trained.state, trained.reason).toBe("completed")
    const testAccuracy = (await client.job(model))?.training?.finished?.testAccuracy
    const run = async (request: Record<string, unknown>) => {
      const { jobId } = await client.infer({ model, ...request })
      const outcome = await client.wait(jobId)
      expect(outcome.state, outcome.reason).toBe("completed")
      return { accuracy: (await client.job(jobId))?.inference?.accuracy, predictions: await client.predictions(jobId) }
    }
    const stored = await run({}) // the model's own test set, as stored at training time
    const noOptions = await run({ data: join(dir, "test.csv") }) // the file again: read with the model's csvLabel=last, no header
    const ownKeys = await run({ data: join(dir, "test.csv"), csvLabel: "last", hasHeader: false, normalize: "zscore" })
    expect(stored.accuracy).toBe(testAccuracy)
    expect(noOptions.accuracy).toBe(testAccuracy)
    expect(noOptions.predictions).toEqual(stored.predictions)
    expect(ownKeys.predictions).toEqual(stored.predictions)
    const refused = await client.infer({ model, data: join(dir, "test.csv"), normalize: "minmax" }).then(() => undefined, (e: unknown) => e)
    expect(refused).toMatchObject({ _tag: "BadSpec", field: "normalize" })
    expect((refused as Error).message).toContain("was trained with normalize=zscore")
  }, 180_000)
})
