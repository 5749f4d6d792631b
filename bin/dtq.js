#!/usr/bin/env node
// Launcher for the `dtq` command. dtq runs on Node 24 (TypeScript type stripping, import.meta.main);
// when started by an older Node, it re-runs itself with the Node 24 that npm installed beside it.
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { dirname, join } from "node:path"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const entry = join(root, "src", "cli", "main.ts")
const major = Number(process.versions.node.split(".")[0])

if (major >= 24) {
  await import("../src/cli/main.ts").then((m) => m.run(process.argv.slice(2)))
} else {
  const local = join(root, "node_modules", "node", "bin", "node")
  if (!existsSync(local)) {
    process.stderr.write(`dtq: needs Node 24 or newer (this is ${process.version}); run npm install in ${root} first\n`)
    process.exit(2)
  }
  const result = spawnSync(local, [entry, ...process.argv.slice(2)], { stdio: "inherit" })
  process.exit(result.status ?? 1)
}
