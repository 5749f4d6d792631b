// `dtq up --secure`: the local cluster on a server with per-role nkeys and permissions, so the secured
// setup is the one people try first. The producer connects with the seed dtq up names; without it, exit 3.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { describe, expect, it } from "vitest"
import { CLI_PATH } from "../../src/cli/local-cluster.ts"
import { freePort } from "../../src/nats/local-server.ts"
import { runCli, waitFor } from "../helpers/cluster.ts"

describe("dtq up --secure", () => {
  it("runs the cluster with per-role credentials; a producer needs its seed", async () => {
    const base = mkdtempSync(join(tmpdir(), "dtq-up-secure-"))
    const store = join(base, "store")
    const secureDir = join(base, "secure")
    const port = await freePort()
    const up = spawn(process.execPath, [CLI_PATH, "up", "--secure", "--secure-dir", secureDir, "--workers", "2", "--port", String(port), "--store", store], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((r) => up.once("exit", (code) => r(code)))
    try {
      const lines: string[] = []
      createInterface({ input: up.stdout }).on("line", (l) => lines.push(l))
      createInterface({ input: up.stderr }).on("line", (l) => lines.push(l))
      await waitFor(`dtq up --secure to be ready (saw: ${lines.slice(-3).join(" | ")})`, () => (lines.some((l) => l.startsWith("dtq is up")) ? true : undefined), 60_000)
      const seed = join(secureDir, "producer.nk")
      expect(lines.some((l) => l.includes(`DTQ_NATS_NKEY=${seed}`)), lines.join("\n")).toBe(true)
      expect(statSync(seed).mode & 0o077).toBe(0) // the seed is readable by its owner only
      for (const id of ["w1", "w2"]) expect(existsSync(join(secureDir, `worker-${id}.nk`))).toBe(true)
      expect(lines.join("\n")).not.toMatch(/SU[A-Z2-7]{40,}/)
      const url = `nats://127.0.0.1:${port}`
      const r = await runCli(["sum", "1", "1000", "--wait", "--json", "--nats", url], { env: { DTQ_NATS_NKEY: seed } })
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: "500500" })
      const anonymous = await runCli(["jobs", "--nats", url])
      expect(anonymous.code, anonymous.stderr).toBe(3)
      expect(anonymous.stderr).toMatch(/refused the credentials|authorization/i)
      up.kill("SIGINT")
      expect(await exited).toBe(0)
    } finally {
      up.kill("SIGKILL")
      rmSync(base, { recursive: true, force: true })
    }
  })
})
