#!/usr/bin/env node
// The `dtq` command (package.json `bin`). An installed package runs its compiled launcher, dist/cli/bin.js
// (which checks the Node version before it loads anything else). dtq's own checkout (it has a tsconfig.json,
// which the package does not ship), on a Node that strips types, runs the sources instead: what a developer
// runs is what they just edited, with no build in between. Plain JavaScript, so that any Node can read it.
import { existsSync } from "node:fs"

const inCheckout = existsSync(new URL("../tsconfig.json", import.meta.url)) && existsSync(new URL("../src/cli/bin.ts", import.meta.url))
await import(inCheckout && Boolean(process.features.typescript) ? "../src/cli/bin.ts" : "../dist/cli/bin.js")
