// A secured deployment on disk: a nats-server configuration with a user (an nkey) per role and per
// worker, and each user's seed in its own file (mode 0600). The configuration holds public keys only.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { nkeys } from "@nats-io/transport-node"
import { authorizationConfig, type ConfigUser, type SecurityRole } from "./permissions.ts"

export const AUTH_FILE = "auth.conf"
export const SERVER_FILE = "nats-server.conf"

export type SecureSetup = {
  readonly dir: string
  /** The authorization block (also in auth.conf), to give a server started by dtq. */
  readonly authorization: string
  /** The seed file of a role (workers: by id). */
  readonly seedFile: (role: SecurityRole, workerId?: string) => string
  readonly workerIds: ReadonlyArray<string>
}

export const seedFileName = (role: SecurityRole, workerId?: string): string => (role === "worker" ? `worker-${workerId}.nk` : `${role}.nk`)

const setupOf = (dir: string, workerIds: ReadonlyArray<string>): SecureSetup => ({
  dir,
  authorization: readFileSync(join(dir, AUTH_FILE), "utf8"),
  seedFile: (role, workerId) => join(dir, seedFileName(role, workerId)),
  workerIds
})

/** The worker ids a configuration in `dir` was written for (from its seed files' names). */
const workerIdsIn = (dir: string): string[] => {
  const text = readFileSync(join(dir, AUTH_FILE), "utf8")
  return [...text.matchAll(/# worker-(\S+) \(worker\)/g)].map((m) => m[1] as string)
}

export type WriteOptions = {
  readonly dir: string
  readonly workerIds: ReadonlyArray<string>
  /** The port and store folder written into nats-server.conf. */
  readonly port?: number
  readonly storeDir?: string
}

/** Writes a fresh configuration and seeds into `dir` (which must not hold one already). */
export const writeSecureSetup = (options: WriteOptions): SecureSetup => {
  const dir = resolve(options.dir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const users: ConfigUser[] = []
  const add = (role: SecurityRole, workerId?: string) => {
    const kp = nkeys.createUser()
    const name = seedFileName(role, workerId).replace(/\.nk$/, "")
    const seed = new TextDecoder().decode(kp.getSeed())
    writeFileSync(join(dir, seedFileName(role, workerId)), `# dtq ${name}: keep this file secret (public key ${kp.getPublicKey()})\n${seed}\n`, { mode: 0o600 })
    users.push({ name, nkey: kp.getPublicKey(), role, ...(workerId === undefined ? {} : { workerId }) })
  }
  add("coordinator")
  add("producer")
  add("observer")
  for (const id of options.workerIds) add("worker", id)
  const header = `# written by dtq secure-config: one nkey user per role and per worker (docs/security.md)\n`
  writeFileSync(join(dir, AUTH_FILE), header + authorizationConfig(users) + "\n", { mode: 0o644 })
  const store = resolve(options.storeDir ?? join(dir, "store"))
  writeFileSync(
    join(dir, SERVER_FILE),
    [header.trim(), `port: ${options.port ?? 4222}`, `jetstream { store_dir: ${JSON.stringify(store)} }`, `include ${JSON.stringify(AUTH_FILE)}`, ""].join("\n"),
    { mode: 0o644 }
  )
  return setupOf(dir, options.workerIds)
}

/** Opens the configuration in `dir`, if there is one. */
export const readSecureSetup = (dir: string): SecureSetup | undefined => {
  const abs = resolve(dir)
  if (!existsSync(join(abs, AUTH_FILE))) return undefined
  return setupOf(abs, workerIdsIn(abs))
}
