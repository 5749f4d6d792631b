// A user's project outside the dtq source tree: a temp directory with its own package.json, dtq linked
// into node_modules (as `npm install /path/to/dtq` does), and the task modules of test/fixtures/user-project.
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export type UserProject = { readonly dir: string; readonly file: (name: string) => string; readonly remove: () => void }

export const makeUserProject = (): UserProject => {
  const dir = mkdtempSync(join(tmpdir(), "dtq-user-project-"))
  const root = resolve(import.meta.dirname, "../..")
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "my-tasks", type: "module", private: true, dependencies: { dtq: `file:${root}` } }))
  mkdirSync(join(dir, "node_modules"))
  symlinkSync(root, join(dir, "node_modules", "dtq"), "dir")
  cpSync(join(root, "test/fixtures/user-project"), dir, { recursive: true })
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) }
}
