// Must show (issue 14, item 3): a wrong password, a missing creds file and an untrusted TLS certificate each
// exit with code 3 and one line naming the cause, with no secret in any output.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startLocalServer, type LocalServer } from "../../src/nats/local-server.ts"
import { runCli } from "../helpers/cluster.ts"
import { makeTestCerts, tlsConfig, type TestCerts } from "../helpers/certs.ts"

const PASSWORD = "correct-horse-battery-7781"
const WRONG = "wrong-staple-9913"

const expectOneLine = (r: { code: number | null; stdout: string; stderr: string }, cause: RegExp, secrets: string[]) => {
  expect(r.code, `exit code; stderr: ${r.stderr}`).toBe(3)
  const lines = r.stderr.trim().split("\n")
  expect(lines, `stderr lines: ${r.stderr}`).toHaveLength(1)
  expect(lines[0]).toMatch(cause)
  for (const secret of secrets) expect(r.stdout + r.stderr, `a secret leaked: ${r.stderr}`).not.toContain(secret)
}

describe("connecting with bad credentials or TLS: exit code 3, one line, no secret", () => {
  const dirs: string[] = []
  let open: LocalServer
  let tls: LocalServer
  let certs: TestCerts
  beforeAll(async () => {
    certs = makeTestCerts()
    const dir = (name: string) => {
      const d = mkdtempSync(join(tmpdir(), `dtq-${name}-`))
      dirs.push(d)
      return d
    }
    open = await startLocalServer({ storeDir: dir("auth"), config: `authorization { users: [ { user: alice, password: "${PASSWORD}" } ] }` })
    tls = await startLocalServer({ storeDir: dir("tls"), config: tlsConfig(certs, true) })
  })
  afterAll(async () => {
    await open?.stop()
    await tls?.stop()
    for (const d of [...dirs, certs?.dir]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })

  it("the right password connects (flags, URL user info, environment)", async () => {
    const flags = await runCli(["replay", "--nats", open.url, "--user", "alice", "--password", PASSWORD])
    expect(flags.code, flags.stderr).toBe(0)
    const inUrl = await runCli(["replay", "--nats", open.url.replace("nats://", `nats://alice:${PASSWORD}@`)])
    expect(inUrl.code, inUrl.stderr).toBe(0)
    expect(inUrl.stdout + inUrl.stderr).not.toContain(PASSWORD)
  })

  it("a wrong password: the server refused the credentials", async () => {
    const r = await runCli(["replay", "--nats", open.url, "--user", "alice", "--password", WRONG])
    expectOneLine(r, /refused the credentials/, [WRONG, PASSWORD])
  })

  it("a wrong password in the URL: the URL is shown without it", async () => {
    const r = await runCli(["sum", "1", "10", "--nats", open.url.replace("nats://", `nats://alice:${WRONG}@`)])
    expectOneLine(r, /\*\*\*@127\.0\.0\.1.*refused the credentials/, [WRONG])
  })

  it("a wrong password from DTQ_NATS_PASSWORD", async () => {
    const r = await runCli(["jobs", "--nats", open.url], { env: { DTQ_NATS_USER: "alice", DTQ_NATS_PASSWORD: WRONG } })
    expectOneLine(r, /refused the credentials/, [WRONG])
  })

  it("a missing creds file names the file", async () => {
    const missing = join(tmpdir(), "dtq-no-such-dir", "worker.creds")
    const r = await runCli(["jobs", "--nats", open.url, "--creds", missing])
    expectOneLine(r, new RegExp(`--creds file ${missing.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} does not exist`), [])
  })

  it("a seed file without a seed names the file, and a seed never appears", async () => {
    const file = join(certs.dir, "bad.nk")
    writeFileSync(file, "not a seed\n")
    const r = await runCli(["jobs", "--nats", open.url, "--nkey", file])
    expectOneLine(r, /--nkey file .*bad\.nk holds no nkey seed/, [])
  })

  it("an untrusted server certificate: TLS failed", async () => {
    const r = await runCli(["jobs", "--nats", tls.url, "--tls-ca", certs.otherCa, "--tls-cert", certs.clientCert, "--tls-key", certs.clientKey])
    expectOneLine(r, /TLS failed/, [])
  })

  it("mutual TLS with the right CA and a client certificate connects", async () => {
    const r = await runCli(["replay", "--nats", tls.url, "--tls-ca", certs.ca, "--tls-cert", certs.clientCert, "--tls-key", certs.clientKey])
    expect(r.code, r.stderr).toBe(0)
  })

  it("a TLS server that wants a client certificate refuses a client without one", async () => {
    const r = await runCli(["jobs", "--nats", tls.url, "--tls-ca", certs.ca])
    expect(r.code, r.stderr).toBe(3)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
  })
})
