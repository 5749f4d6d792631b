// A small strict argument parser: every command declares its flags; anything else is a usage error (exit 2).

export class UsageError extends Error {}

export type FlagSpec = Readonly<Record<string, "string" | "boolean">>

export type Parsed = { readonly positional: string[]; readonly flags: Record<string, string | boolean> }

/** Flags every command accepts. */
export const COMMON_FLAGS: FlagSpec = {
  nats: "string",
  help: "boolean",
  // NATS credentials and TLS (src/cli/nats-flags.ts; also from DTQ_NATS_* variables)
  user: "string",
  password: "string",
  token: "string",
  nkey: "string",
  creds: "string",
  "tls-ca": "string",
  "tls-cert": "string",
  "tls-key": "string"
}

export const parseArgs = (command: string, argv: ReadonlyArray<string>, spec: FlagSpec): Parsed => {
  const all = { ...COMMON_FLAGS, ...spec }
  const positional: string[] = []
  const flags: Record<string, string | boolean> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === "--") {
      positional.push(...argv.slice(i + 1))
      break
    }
    // A negative number is a value, not a flag: `dtq sum -5 5`.
    if (!arg.startsWith("--") || /^-\d/.test(arg)) {
      positional.push(arg)
      continue
    }
    const eq = arg.indexOf("=")
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const kind = all[name]
    if (kind === undefined) throw new UsageError(`unknown option --${name} for dtq ${command} (see dtq ${command} --help)`)
    if (kind === "boolean") {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`)
      flags[name] = true
      continue
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined || (eq === -1 && value.startsWith("--"))) throw new UsageError(`--${name} needs a value`)
    flags[name] = value
  }
  return { positional, flags }
}

export const stringFlag = (p: Parsed, name: string): string | undefined => {
  const v = p.flags[name]
  return typeof v === "string" ? v : undefined
}

export const boolFlag = (p: Parsed, name: string): boolean => p.flags[name] === true

/** A whole number flag within [min, max]; undefined when absent. */
export const intFlag = (p: Parsed, name: string, min: number, max: number): number | undefined => {
  const raw = stringFlag(p, name)
  if (raw === undefined) return undefined
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${name} must be a whole number, not ${JSON.stringify(raw)}`)
  const n = Number(raw)
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, not ${n}`)
  return n
}

/** A probability flag in [0, 1]; 0 when absent. */
export const rateFlag = (p: Parsed, name: string): number => {
  const raw = stringFlag(p, name)
  if (raw === undefined) return 0
  const n = Number(raw)
  if (!/^\s*(\d+\.?\d*|\.\d+)\s*$/.test(raw) || n < 0 || n > 1) throw new UsageError(`--${name} must be a probability between 0 and 1, not ${JSON.stringify(raw)}`)
  return n
}
