// `dtq up` keeps its cluster running: a coordinator or worker killed with SIGKILL is restarted with a
// backoff and a log line, and the cluster answers again (issue 21).
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { describe, expect, it } from "vitest"
import { CLI_PATH } from "../../src/cli/local-cluster.ts"
import { freePort } from "../../src/nats/local-server.ts"
import { runCli, waitFor } from "../helpers/cluster.ts"

describe("dtq up supervision", () => {
  it("restarts a SIGKILLed coordinator and worker, and jobs run again", async () => {
    const store = mkdtempSync(join(tmpdir(), "dtq-up-sup-"))
    const port = await freePort()
    const url = `nats://127.0.0.1:${port}`
    const up = spawn(process.execPath, [CLI_PATH, "up", "--workers", "1", "--port", String(port), "--store", store], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((r) => up.once("exit", (code) => r(code)))
    const lines: string[] = []
    createInterface({ input: up.stdout }).on("line", (l) => lines.push(l))
    const seen = (re: RegExp) => () => (lines.some((l) => re.test(l)) ? true : undefined)
    try {
      await waitFor("dtq up to be ready", seen(/^dtq is up/), 60_000)
      const info = JSON.parse((await runCli(["info", "--json", "--nats", url])).stdout) as { pid: number; leader: string }
      process.kill(info.pid, "SIGKILL")
      await waitFor("the supervisor to say it restarts the coordinator", seen(/supervisor\s*\| supervisor: coordinator was killed by SIGKILL; restarting it in \d+ ms \(restart 1\)/), 30_000)
      await waitFor("the coordinator to be restarted", seen(/supervisor\s*\| supervisor: coordinator restarted \(pid \d+, restart 1\)/), 60_000)
      const after = JSON.parse((await runCli(["info", "--json", "--nats", url])).stdout) as { pid: number }
      expect(after.pid).not.toBe(info.pid)

      const workers = JSON.parse((await runCli(["workers", "--json", "--nats", url])).stdout) as { workers: Array<{ workerId: string; pid: number; state: string }> }
      const w1 = workers.workers.find((w) => w.workerId === "w1" && w.state === "live")
      expect(w1, JSON.stringify(workers)).toBeDefined()
      process.kill(w1!.pid, "SIGKILL")
      await waitFor("the worker to be restarted", seen(/supervisor: w1 restarted \(pid \d+, restart 1\)/), 60_000)

      const r = await runCli(["sum", "1", "1000", "--wait", "--json", "--nats", url])
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ state: "completed", result: "500500" })
      up.kill("SIGINT")
      expect(await exited).toBe(0)
      expect(lines.at(-1)).toBe("stopped.")
    } finally {
      up.kill("SIGKILL")
      rmSync(store, { recursive: true, force: true })
    }
  })
})
