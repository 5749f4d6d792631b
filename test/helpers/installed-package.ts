// dtq as a user gets it: the tarball `npm pack` makes, installed into a project of its own outside the
// checkout, and the Node lines to run it with (the system's Node 20, Node 22 from the `node` npm package
// cached under the temp folder, and the checkout's Node 24). Every command is bounded in time.
import { spawn, spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join, resolve } from "node:path"

export const ROOT = resolve(import.meta.dirname, "../..")

export type CommandResult = { readonly code: number | null; readonly stdout: string; readonly stderr: string }

/**
 * The environment for a process of the user's project: this test's, with `node` of the given folder first
 * on PATH and without NODE_OPTIONS (the tests' own `--conditions=dtq-source` would point an installed dtq
 * at sources it cannot run).
 */
export const userEnv = (nodeDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: [nodeDir, process.env.PATH ?? ""].join(delimiter), ...extra }
  delete env.NODE_OPTIONS
  for (const key of Object.keys(env)) if (key.startsWith("npm_")) delete env[key] // not the checkout's npm run context
  return env
}

/** Runs a command to its end; killed (SIGKILL) after `timeoutMs`, which the result then says. */
export const runCommand = (
  command: string,
  args: ReadonlyArray<string>,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }
): Promise<CommandResult> =>
  new Promise((resolveResult) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      stderr += `\n[killed: ${command} ${args.join(" ")} ran over ${options.timeoutMs} ms]`
      child.kill("SIGKILL")
    }, options.timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      resolveResult({ code: null, stdout, stderr: `${stderr}\n${error.message}` })
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolveResult({ code, stdout, stderr })
    })
  })

const must = (what: string, result: CommandResult): CommandResult => {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}:\n${result.stderr.slice(-2000)}\n${result.stdout.slice(-1000)}`)
  return result
}

export type PackedTarball = { readonly file: string; readonly size: number; readonly files: ReadonlyArray<string>; readonly remove: () => void }

/** `npm pack` of the checkout (which runs `prepare`, the build) into a temp folder: the tarball and its file list. */
export const packTarball = async (): Promise<PackedTarball> => {
  const dir = mkdtempSync(join(tmpdir(), "dtq-pack-"))
  const result = must(
    "npm pack",
    await runCommand("npm", ["pack", "--json", "--pack-destination", dir], { cwd: ROOT, env: userEnv(dirname(process.execPath)), timeoutMs: 300_000 })
  )
  // Lifecycle scripts print their banners on stdout before npm's JSON.
  const json = JSON.parse(result.stdout.slice(result.stdout.search(/^\[/m))) as Array<{ filename: string; size: number; files: Array<{ path: string }> }>
  const packed = json[0]
  if (packed === undefined) throw new Error(`npm pack printed no package: ${result.stdout.slice(-500)}`)
  return {
    file: join(dir, packed.filename),
    size: packed.size,
    files: packed.files.map((f) => f.path),
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}

export type UserProject = { readonly dir: string; readonly remove: () => void }

const installedVersion = (name: string): string => (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version

/**
 * A user's project in a temp folder: its own package.json with dtq (the tarball) as a dependency and
 * TypeScript as a development one, the files of test/fixtures/installed-project, and `npm install` done.
 */
export const installUserProject = async (tarball: string, files: Record<string, string> = {}): Promise<UserProject> => {
  const dir = mkdtempSync(join(tmpdir(), "dtq-installed-"))
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify(
      {
        name: "my-dtq-project",
        private: true,
        type: "module",
        dependencies: { dtq: `file:${tarball}` },
        devDependencies: { typescript: installedVersion("typescript"), "@types/node": installedVersion("@types/node") }
      },
      null,
      2
    )
  )
  cpSync(join(ROOT, "test/fixtures/installed-project"), dir, { recursive: true })
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  must(
    "npm install (the user's project)",
    await runCommand("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd: dir, env: userEnv(dirname(process.execPath)), timeoutMs: 300_000 })
  )
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export type NodeLine = { readonly major: number; readonly dir: string; readonly version: string }

const versionOf = (node: string): string => spawnSync(node, ["--version"], { encoding: "utf8", timeout: 30_000 }).stdout.trim()

const line = (major: number, node: string): NodeLine => {
  const version = versionOf(node)
  if (!version.startsWith(`v${major}.`)) throw new Error(`expected Node ${major} at ${node}, found ${version || "nothing"}`)
  return { major, dir: dirname(node), version }
}

/** The system's Node 20 (/usr/bin/node on this machine; DTQ_TEST_NODE20 names another). */
export const node20 = (): NodeLine => line(20, process.env.DTQ_TEST_NODE20 ?? "/usr/bin/node")

/** The checkout's Node 24 (the `node` devDependency). */
export const node24 = (): NodeLine => line(24, join(ROOT, "node_modules", "node", "bin", "node"))

/**
 * Node 22: the `node@22` npm package, installed once into a cache folder under the temp folder and reused
 * (a folder is only used once its install has finished: it is installed beside and renamed into place).
 */
export const node22 = async (): Promise<NodeLine> => {
  const cache = join(tmpdir(), "dtq-test-node22")
  const node = join(cache, "node_modules", "node", "bin", "node")
  if (!existsSync(node)) {
    const staging = mkdtempSync(join(tmpdir(), "dtq-test-node22-"))
    writeFileSync(join(staging, "package.json"), JSON.stringify({ name: "node22", private: true }))
    must(
      "npm install node@22",
      await runCommand("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", "node@22"], { cwd: staging, env: userEnv(dirname(process.execPath)), timeoutMs: 300_000 })
    )
    if (!existsSync(node)) {
      rmSync(cache, { recursive: true, force: true })
      mkdirSync(dirname(cache), { recursive: true })
      renameSync(staging, cache)
    } else rmSync(staging, { recursive: true, force: true })
  }
  return line(22, node)
}
