// Must show (issue 14, item 1): a real nats-server started with the configuration `dtq secure-config` writes
// (per-role nkey users and permissions): sums, a training job and a user task complete; the server refuses
// a worker publishing a decision or another worker's result, and a producer publishing a result.
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { encodeEvent } from "../../src/domain/event-codec.ts"
import type { DtqEvent } from "../../src/domain/events.ts"
import { writeSecureSetup, type SecureSetup } from "../../src/nats/secure-setup.ts"
import { startTestCluster, type TestCluster } from "../helpers/cluster.ts"
import { makeTestCerts, tlsConfig, type TestCerts } from "../helpers/certs.ts"
import { makeUserProject, type UserProject } from "../helpers/user-project.ts"

const seedOf = (file: string) => new TextEncoder().encode(readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("SU")) ?? "")
const envelope = <R extends "worker" | "coordinator">(role: R, id: string) => ({ id: `ev-${Math.random().toString(36).slice(2, 12)}`, v: 1 as const, ts: Date.now(), writer: { role, id } })

describe("a cluster on a server with per-role permissions (nkeys)", () => {
  let dir: string
  let setup: SecureSetup
  let cluster: TestCluster
  let project: UserProject
  const raw: NatsConnection[] = []
  const as = async (seedFile: string) => {
    const nc = await connect({ servers: cluster.url, authenticator: nkeyAuthenticator(seedOf(seedFile)) })
    raw.push(nc)
    return nc
  }
  /** Publishes to JetStream as that user; resolves with the server's refusal, or undefined when stored. */
  const refusal = async (nc: NatsConnection, subject: string, event: DtqEvent): Promise<string | undefined> => {
    const errors: string[] = []
    void (async () => {
      for await (const s of nc.status()) if (s.type === "error") errors.push(String((s as { error?: unknown }).error))
    })()
    try {
      await jetstream(nc, { timeout: 3000 }).publish(subject, encodeEvent(event))
      return undefined
    } catch (error) {
      return [String(error), ...errors].join(" | ")
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dtq-secure-"))
    project = makeUserProject()
    setup = writeSecureSetup({ dir, workerIds: ["w1", "w2"] })
    const nkey = (f: string) => ["--nkey", f]
    cluster = await startTestCluster({
      config: setup.authorization,
      coordinator: nkey(setup.seedFile("coordinator")),
      worker: (id) => nkey(setup.seedFile("worker", id)),
      producer: nkey(setup.seedFile("producer")),
      clientCredentials: { nkeyFile: setup.seedFile("producer") }
    })
    await cluster.coordinator()
    await Promise.all(["w1", "w2"].map((id) => cluster.worker(id, ["--slots", "2", "--tasks", project.file("plain.js")])))
  })
  afterAll(async () => {
    await Promise.all(raw.map((nc) => nc.close().catch(() => undefined)))
    await cluster?.cleanup()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    project?.remove()
  })

  it("an exact sum completes", async () => {
    const r = await cluster.cli(["sum", "1", "1000000", "--tasks", "20", "--wait", "--json"])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: "500000500000" })
  })

  it("a training job completes", async () => {
    const r = await cluster.cli(["train", "model=logreg", "task=binary_is_zero", "samples=2000", "epochs=1", "batchSize=128", "lr=0.1", "seed=42", "mode=sync", "--wait", "--json", "--out", join(dir, "training")], { timeoutMs: 120_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed" })
  })

  it("a user task completes", async () => {
    const r = await cluster.cli(["submit", "echo", "--input", '{"a":1}', "--wait", "--json"])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: { echoed: { a: 1 } } })
  })

  const result = (workerId: string): DtqEvent => ({
    type: "TaskCompleted",
    ...envelope("worker", workerId),
    workerId,
    results: [{ jobId: "j-none", index: 0, attempt: 1, result: "1", ms: 1 }]
  })
  const election = (epoch: number): DtqEvent => ({ type: "CoordinatorElected", ...envelope("coordinator", "c-forger"), epoch, host: "x", pid: 1 })

  it("the server refuses a worker's decisions, elections and another worker's results; its own facts pass", async () => {
    const w1 = await as(setup.seedFile("worker", "w1"))
    const decision: DtqEvent = { type: "JobCompleted", ...envelope("coordinator", "c-forger"), epoch: 1, jobId: "j-none", result: "1" }
    expect(await refusal(w1, "dtq.ev.JobCompleted.j-none", decision)).toMatch(/permission/i)
    expect(await refusal(w1, "dtq.ev.CoordinatorElected.term", election(Number.MAX_SAFE_INTEGER))).toMatch(/permission/i)
    expect(await refusal(w1, "dtq.ev.TaskCompleted.w2", result("w2"))).toMatch(/permission/i)
    // Its own result lands (and the fold sets it aside: the job does not exist).
    expect(await refusal(w1, "dtq.ev.TaskCompleted.w1", result("w1"))).toBeUndefined()
  })

  it("the server refuses a producer's results and decisions, and an observer's requests", async () => {
    const producer = await as(setup.seedFile("producer"))
    expect(await refusal(producer, "dtq.ev.TaskCompleted.w1", result("w1"))).toMatch(/permission/i)
    expect(await refusal(producer, "dtq.ev.CoordinatorElected.term", election(2))).toMatch(/permission/i)
    const observer = await as(setup.seedFile("observer"))
    const submitted = { type: "JobCancelRequested", id: "ev-x", v: 1, ts: Date.now(), writer: { role: "producer", id: "p-x" }, jobId: "j-none" } as DtqEvent
    expect(await refusal(observer, "dtq.ev.JobCancelRequested.j-none", submitted)).toMatch(/permission/i)
  })

  it("no role but the coordinator may delete or purge the event stream", async () => {
    for (const role of ["worker", "producer", "observer"] as const) {
      const nc = await as(role === "worker" ? setup.seedFile("worker", "w2") : setup.seedFile(role))
      const error = await jetstreamManager(nc, { timeout: 3000 }).then((jsm) => jsm.streams.purge("DTQ_EVENTS")).then(() => undefined, (e: unknown) => String(e))
      expect(error, `${role} purging the stream`).toMatch(/permission|timeout/i)
    }
    const { state } = await (await cluster.client()).replay()
    expect([...state.jobs.values()].filter((j) => j.phase === "completed")).toHaveLength(3)
  })
})

describe("the same setup over mutual TLS (certificates made with openssl)", () => {
  let dir: string
  let certs: TestCerts
  let cluster: TestCluster
  let producerSeed: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dtq-secure-tls-"))
    certs = makeTestCerts()
    const setup = writeSecureSetup({ dir, workerIds: ["w1"] })
    producerSeed = setup.seedFile("producer")
    const tls = ["--tls-ca", certs.ca, "--tls-cert", certs.clientCert, "--tls-key", certs.clientKey]
    cluster = await startTestCluster({
      config: `${setup.authorization}\n${tlsConfig(certs, true)}`,
      coordinator: ["--nkey", setup.seedFile("coordinator"), ...tls],
      worker: (id) => ["--nkey", setup.seedFile("worker", id), ...tls],
      producer: ["--nkey", setup.seedFile("producer"), ...tls],
      clientCredentials: { nkeyFile: setup.seedFile("producer"), tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } }
    })
    await cluster.coordinator()
    await cluster.worker("w1", ["--slots", "2"])
  })
  afterAll(async () => {
    await cluster?.cleanup()
    for (const d of [dir, certs?.dir]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })

  it("an exact sum completes over TLS", async () => {
    const r = await cluster.cli(["sumsq", "1", "100000", "--tasks", "8", "--wait", "--json"])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: "333338333350000" })
  })

  it("a client with the right seed but without TLS settings is refused (exit 3)", async () => {
    const r = await cluster.cli(["jobs", "--nats", cluster.url, "--nkey", producerSeed])
    expect(r.code, r.stderr).toBe(3)
    expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1)
    expect(r.stderr).not.toMatch(/SU[A-Z2-7]{40,}/)
  })
})
