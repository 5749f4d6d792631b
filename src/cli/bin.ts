#!/usr/bin/env node
// The `dtq` command (package.json `bin`). It checks the Node version before anything else is loaded, so an
// old Node gets one clear line instead of a syntax or module error; then it runs the CLI.
// In dtq's own checkout on a Node that strips types it runs the source (src/cli/main.ts) rather than the
// build in dist/, so what a developer runs is what they just edited; an installed package has no
// tsconfig.json and always runs its compiled JavaScript.
import { existsSync } from "node:fs"

/** The oldest Node line dtq supports (package.json `engines`; docs/operations.md says why). */
const MIN_NODE_MAJOR = 20
const major = Number(process.versions.node.split(".")[0])
if (!(major >= MIN_NODE_MAJOR)) {
  process.stderr.write(`dtq: needs Node ${MIN_NODE_MAJOR} or newer; this is Node ${process.version} (${process.execPath})\n`)
  process.exit(2)
}

const source = new URL("../../src/cli/main.ts", import.meta.url)
const inCheckout = existsSync(new URL("../../tsconfig.json", import.meta.url)) && existsSync(source)
const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript)
const cli = (inCheckout && stripsTypes ? await import(source.href) : await import("./main.ts")) as typeof import("./main.ts")
cli.run(process.argv.slice(2))
