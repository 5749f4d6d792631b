// `dtq secure-config --out DIR`: a ready nats-server configuration with per-role permissions and an nkey
// seed file per role and per worker, under the folder it names (docs/security.md).
import { existsSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Id } from "../domain/events.ts"
import { Schema } from "../domain/schema.ts"
import { AUTH_FILE, SERVER_FILE, writeSecureSetup } from "../nats/secure-setup.ts"
import { UsageError, boolFlag, intFlag, parseArgs, stringFlag } from "./args.ts"

const isId = Schema.is(Id)

/** Worker ids from --worker-ids a,b,c or --workers N (w1..wN, as dtq up names them). */
export const workerIdsFrom = (ids: string | undefined, count: number | undefined): string[] => {
  if (ids === undefined) return Array.from({ length: count ?? 3 }, (_, i) => `w${i + 1}`)
  if (count !== undefined) throw new UsageError("give --workers N or --worker-ids, not both")
  const list = ids.split(",").map((s) => s.trim()).filter((s) => s !== "")
  const bad = list.find((id) => !isId(id))
  if (bad !== undefined) throw new UsageError(`--worker-ids: ${JSON.stringify(bad)} is not an id of 1-64 letters, digits, '_' or '-'`)
  if (new Set(list).size !== list.length) throw new UsageError("--worker-ids lists an id twice")
  return list
}

export const secureConfigCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("secure-config", argv, { out: "string", workers: "string", "worker-ids": "string", port: "string", store: "string", force: "boolean" })
  if (args.positional.length > 0) throw new UsageError(`dtq secure-config takes no arguments, got ${args.positional.join(" ")}`)
  const dir = stringFlag(args, "out")
  if (dir === undefined) throw new UsageError("dtq secure-config needs --out DIR, the folder to write the configuration and seeds into")
  const workerIds = workerIdsFrom(stringFlag(args, "worker-ids"), intFlag(args, "workers", 0, 1024))
  if (existsSync(join(dir, AUTH_FILE))) {
    if (!boolFlag(args, "force")) throw new UsageError(`${dir} already holds a dtq configuration (${AUTH_FILE}); --force replaces it and every seed in it`)
    for (const file of [AUTH_FILE, SERVER_FILE]) rmSync(join(dir, file), { force: true })
  }
  const port = intFlag(args, "port", 1, 65535)
  const store = stringFlag(args, "store")
  const setup = writeSecureSetup({ dir, workerIds, ...(port === undefined ? {} : { port }), ...(store === undefined ? {} : { storeDir: store }) })
  const out = (line: string) => process.stdout.write(`${line}\n`)
  out(`wrote a secured setup to ${setup.dir}:`)
  out(`  ${SERVER_FILE}    run it with: nats-server -c ${join(setup.dir, SERVER_FILE)}`)
  out(`  ${AUTH_FILE}          per-role permissions (public keys only)`)
  out(`  coordinator.nk, producer.nk, observer.nk, ${workerIds.map((id) => `worker-${id}.nk`).join(", ")}   seeds: keep them secret`)
  out(`then, each role with its own seed:`)
  out(`  dtq coordinator --nkey ${setup.seedFile("coordinator")}`)
  if (workerIds[0] !== undefined) out(`  dtq worker --id ${workerIds[0]} --nkey ${setup.seedFile("worker", workerIds[0])}`)
  out(`  DTQ_NATS_NKEY=${setup.seedFile("producer")} dtq sum 1 1000000 --wait`)
  return 0
}
