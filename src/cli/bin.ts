// The `dtq` command's launcher (bin/dtq.js loads it: compiled in an installed package, as source in a
// checkout). It checks the Node version before anything else is loaded, so an old Node gets one clear
// line instead of a syntax or module error; then it runs the CLI.

/** The oldest Node line dtq supports (package.json `engines`; docs/operations.md says why). */
const MIN_NODE_MAJOR = 20
const major = Number(process.versions.node.split(".")[0])
if (!(major >= MIN_NODE_MAJOR)) {
  process.stderr.write(`dtq: needs Node ${MIN_NODE_MAJOR} or newer; this is Node ${process.version} (${process.execPath})\n`)
  process.exit(2)
}

const { run } = await import("./main.ts")
run(process.argv.slice(2))
