// Must show (issue 13, items 1 and 2): dtq as a user installs it. The checkout is packed once (`npm pack`,
// which builds dist/), the tarball installed once into a project of its own in the temp folder, and there,
// on Node 20, 22 and 24 in turn: `npx dtq up` from the installed package with a worker loading a plain
// JavaScript task module, a plain .mjs producer that gets the typed result, a TypeScript task module
// (loaded where Node strips types, refused with the reason where it does not), and `tsc --noEmit` of a
// TypeScript consumer and of the README's examples with a standard nodenext strict configuration.
import { spawn, type ChildProcess } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort, portOpen } from "../../src/nats/local-server.ts"
import {
  ROOT,
  installUserProject,
  node20,
  node22,
  node24,
  packTarball,
  runCommand,
  userEnv,
  type NodeLine,
  type PackedTarball,
  type UserProject
} from "../helpers/installed-package.ts"

/** The README's TypeScript examples, one module each, so the test type-checks exactly what users read. */
const readmeExamples = (): Record<string, string> => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8")
  const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string)
  return Object.fromEntries(blocks.map((code, i) => [`readme-${i + 1}.ts`, code]))
}

let tarball: PackedTarball | undefined
let project: UserProject | undefined
const lines = new Map<number, NodeLine>()

beforeAll(async () => {
  tarball = await packTarball()
  project = await installUserProject(tarball.file, readmeExamples())
  for (const line of [node20(), await node22(), node24()]) lines.set(line.major, line)
}, 900_000)

afterAll(() => {
  project?.remove()
  tarball?.remove()
})

const nodeLine = (major: number): NodeLine => {
  const line = lines.get(major)
  if (line === undefined) throw new Error(`Node ${major} was not found (see beforeAll)`)
  return line
}
const dir = (): string => {
  if (project === undefined) throw new Error("the user's project was not installed (see beforeAll)")
  return project.dir
}

describe("the tarball", () => {
  it("holds the build, the sources its declaration maps point at, and no tests, benches or fixtures", () => {
    const files = tarball?.files ?? []
    for (const needed of ["package.json", "dist/index.js", "dist/index.d.ts", "dist/index.d.ts.map", "dist/cluster.js", "dist/cluster.d.ts", "dist/cli/bin.js", "bin/dtq.js", "src/index.ts"]) {
      expect(files, `the tarball lacks ${needed}`).toContain(needed)
    }
    const unwanted = files.filter((f) => /^(test|bench|scripts|examples|docs|logs|out|\.dtq|node_modules)\//.test(f) || /\.test\.|fixture/i.test(f))
    expect(unwanted, "files in the tarball that the runtime does not need").toEqual([])
    // The shipped MNIST subset is the default data set of `dtq train` and the demo; nothing else under data/.
    expect(files.filter((f) => f.startsWith("data/")).sort()).toEqual(["data/mnist/README.md", "data/mnist/test.csv.gz", "data/mnist/train.csv.gz"])
    const manifest = JSON.parse(readFileSync(join(dir(), "node_modules", "dtq", "package.json"), "utf8")) as { dependencies: Record<string, string> }
    expect(Object.keys(manifest.dependencies), "runtime dependencies").not.toContain("node")
  })
})

type Up = { readonly process: ChildProcess; readonly url: string; readonly output: string[]; readonly exited: Promise<number | null> }

/** `npx dtq up` in the user's project, in a process group of its own (so Ctrl-C can be sent as a terminal does). */
const startUp = (line: NodeLine, args: string[]): Promise<Up> =>
  new Promise((resolve, reject) => {
    const child = spawn("npx", ["dtq", "up", ...args], { cwd: dir(), env: userEnv(line.dir), stdio: ["ignore", "pipe", "pipe"], detached: true })
    const output: string[] = []
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    const timer = setTimeout(() => fail(`npx dtq up did not say it was up within 120 s`), 120_000)
    let settled = false
    const fail = (why: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      killGroup(child, "SIGKILL")
      reject(new Error(`${why}:\n${output.slice(-15).join("\n")}`))
    }
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (text) => {
        output.push(text)
        const up = /dtq is up: nats-server at (nats:\/\/\S+)/.exec(text)
        if (up !== null && !settled) {
          settled = true
          clearTimeout(timer)
          resolve({ process: child, url: up[1] as string, output, exited })
        }
      })
    }
    void exited.then((code) => fail(`npx dtq up exited with ${code}`))
  })

const killGroup = (child: ChildProcess, signal: NodeJS.Signals): void => {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** Ctrl-C (SIGINT to the whole process group); SIGKILL if it has not stopped within 30 s. */
const stopUp = async (up: Up): Promise<number | null> => {
  killGroup(up.process, "SIGINT")
  const timer = setTimeout(() => killGroup(up.process, "SIGKILL"), 30_000)
  const code = await up.exited
  clearTimeout(timer)
  return code
}

describe.each([20, 22, 24])("installed dtq on Node %i", (major) => {
  let up: Up | undefined
  let port = 0

  beforeAll(async () => {
    port = await freePort()
    up = await startUp(nodeLine(major), ["--workers", "1", "--slots", "2", "--port", String(port), "--store", join(dir(), `.dtq-node${major}`), "--tasks", "./tasks.mjs"])
  }, 180_000)

  afterAll(async () => {
    if (up !== undefined && up.process.exitCode === null && up.process.signalCode === null) await stopUp(up)
  }, 60_000)

  it("runs a worker loading a plain JavaScript task module, and a .mjs producer gets the typed result", async () => {
    const line = nodeLine(major)
    expect(up?.output.join("\n")).toMatch(/runs .*add-days/) // the worker of `dtq up` loaded tasks.mjs
    const run = await runCommand(join(line.dir, "node"), ["submit.mjs"], { cwd: dir(), env: userEnv(line.dir, { DTQ_NATS_URL: up?.url ?? "" }), timeoutMs: 120_000 })
    expect(run.stderr, "submit.mjs stderr").toBe("")
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({
      isDate: true, // decoded by the task's output Schema (DateFromString) in the producer
      at: "2026-03-01T12:00:00.000Z",
      node: line.version, // computed by a worker on this very Node line
      refused: { retryable: false, error: "days must not be negative" }
    })
  }, 180_000)

  it(major >= 22 ? "loads a TypeScript task module (Node strips types)" : "refuses a TypeScript task module, saying why (Node 20 does not strip types)", async () => {
    const line = nodeLine(major)
    const env = userEnv(line.dir, { DTQ_NATS_URL: up?.url ?? "" })
    if (major < 22) {
      const run = await runCommand("npx", ["dtq", "worker", "--id", "ts-worker", "--tasks", "./typed-tasks.ts"], { cwd: dir(), env, timeoutMs: 60_000 })
      expect(run.code).toBe(2)
      expect(run.stderr).toContain(`cannot load ${join(dir(), "typed-tasks.ts")}: it is TypeScript and this Node (${line.version}) does not strip types`)
      return
    }
    const worker = spawn("npx", ["dtq", "worker", "--id", `ts-worker-${major}`, "--tasks", "./typed-tasks.ts"], { cwd: dir(), env, stdio: ["ignore", "pipe", "pipe"], detached: true })
    try {
      const seen: string[] = []
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the TypeScript worker did not join within 60 s:\n${seen.join("\n")}`)), 60_000)
        worker.once("exit", (code) => reject(new Error(`the TypeScript worker exited with ${code}:\n${seen.join("\n")}`)))
        for (const stream of [worker.stdout, worker.stderr]) {
          createInterface({ input: stream }).on("line", (text) => {
            seen.push(text)
            if (/joined with .*shout/.test(text)) {
              clearTimeout(timer)
              resolve()
            }
          })
        }
      })
      const run = await runCommand("npx", ["dtq", "submit", "shout", "--input", '{"text":"hi"}', "--wait", "--json"], { cwd: dir(), env, timeoutMs: 120_000 })
      expect(run.code, run.stderr).toBe(0)
      expect(JSON.parse(run.stdout)).toMatchObject({ state: "completed", result: { text: "HI!", attempt: 1 } })
    } finally {
      const exited = new Promise((r) => worker.once("exit", r))
      killGroup(worker, "SIGTERM")
      const timer = setTimeout(() => killGroup(worker, "SIGKILL"), 20_000)
      await exited
      clearTimeout(timer)
    }
  }, 240_000)

  it("type-checks a TypeScript consumer and the README's examples against the shipped declarations (tsc --noEmit, nodenext strict)", async () => {
    const line = nodeLine(major)
    const tsc = await runCommand(join(line.dir, "node"), [join("node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", "."], { cwd: dir(), env: userEnv(line.dir), timeoutMs: 240_000 })
    expect(tsc.stdout + tsc.stderr, "tsc errors").toBe("")
    expect(tsc.code).toBe(0)
    if (major === 24) {
      // Stricter than the default: check the declarations themselves too (skipLibCheck off, Node's types on).
      const strict = await runCommand(join(line.dir, "node"), [join("node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", ".", "--skipLibCheck", "false", "--types", "node"], {
        cwd: dir(),
        env: userEnv(line.dir),
        timeoutMs: 240_000
      })
      const ours = strict.stdout.split("\n").filter((l) => l.includes("error") && !l.startsWith("node_modules/@nats-io/"))
      expect(ours, "errors in dtq's declarations (or the consumer) with skipLibCheck off").toEqual([])
    }
  }, 300_000)

  it("stops on Ctrl-C, nats-server included", async () => {
    if (up === undefined) throw new Error("dtq up did not start")
    await stopUp(up)
    // npx itself ends by the SIGINT it got (as in a terminal); dtq up says it stopped everything.
    expect(up.output.join("\n"), up.output.slice(-10).join("\n")).toMatch(/^stopped\.$/m)
    expect(await portOpen(port), `nats-server still listens on ${port}`).toBe(false)
  }, 60_000)
})
