// The example in examples/text-tasks runs as its README says: workers load its task module, its script
// counts the words of text files on the cluster, and `dtq submit` hashes a text.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runNode, startTestCluster, type TestCluster } from "../helpers/cluster.ts"

const EXAMPLE = resolve(import.meta.dirname, "../../examples/text-tasks")

describe("examples/text-tasks", () => {
  let cluster: TestCluster
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dtq-texts-"))
    writeFileSync(join(dir, "hat.txt"), "The cat and the hat.\nThe end!\n")
    writeFileSync(join(dir, "rain.txt"), "Rain, rain, go away;\ncome again another day.\n")
    cluster = await startTestCluster()
    await cluster.coordinator()
    await cluster.worker("text-1", ["--tasks", join(EXAMPLE, "tasks.ts")])
    await cluster.worker("text-2", ["--tasks", join(EXAMPLE, "tasks.ts")])
  })
  afterAll(async () => {
    await cluster?.cleanup()
    rmSync(dir, { recursive: true, force: true })
  })

  it("counts words across files on the cluster", async () => {
    const run = await runNode([join(EXAMPLE, "count-words.ts"), join(dir, "hat.txt"), join(dir, "rain.txt"), "--nats", cluster.url, "--top", "3"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split("\n")
    expect(lines[0]).toBe(`${join(dir, "hat.txt")}: 7 words, 5 distinct, 2 lines`)
    expect(lines[1]).toBe(`${join(dir, "rain.txt")}: 8 words, 7 distinct, 2 lines`)
    expect(lines[2]).toMatch(/^total: 15 words in 2 file\(s\) \(job j-[a-z0-9]+\)$/)
    expect(lines[3]).toBe("most frequent (among each file's top 3): the 3, rain 2, again 1")
  })

  it("hashes a text with dtq submit", async () => {
    const run = await cluster.cli(["submit", "sha256", "--input", '{"text":"abc"}', "--wait", "--json"])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({
      state: "completed",
      result: { sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", bytes: 3 }
    })
  })

  it("says which file it cannot read", async () => {
    const run = await runNode([join(EXAMPLE, "count-words.ts"), join(dir, "missing.txt"), "--nats", cluster.url])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`cannot read ${join(dir, "missing.txt")}`)
  })
})
