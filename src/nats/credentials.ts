// NATS credentials and TLS for every role and the client library: user/password (also from a URL's user
// info), token, an nkey seed file, a creds (JWT) file, and TLS with a CA, client certificate and key.
// Secrets are kept out of every message: URLs are shown without their user info and any secret text that
// leaks into a server or library error is masked (redact).
import { readFileSync } from "node:fs"
import { credsAuthenticator, nkeyAuthenticator, type Authenticator, type TlsOptions } from "@nats-io/transport-node"
import { CredentialsUnusable } from "./errors.ts"

export type NatsTls = {
  /** PEM file of the CA that signed the server's certificate (else the system's CAs). */
  readonly ca?: string
  /** PEM client certificate and its key, for a server that verifies clients (mutual TLS). */
  readonly cert?: string
  readonly key?: string
}

export type NatsCredentials = {
  readonly user?: string
  readonly password?: string
  readonly token?: string
  /** A file holding an nkey seed (`SU...`), as written by `dtq secure-config`. */
  readonly nkeyFile?: string
  /** A `.creds` file (user JWT and seed), as written by `nsc` for an operator-mode server. */
  readonly credsFile?: string
  readonly tls?: NatsTls
}

/** The environment variable of each setting; flags override them. */
export const CREDENTIAL_ENV = {
  user: "DTQ_NATS_USER",
  password: "DTQ_NATS_PASSWORD",
  token: "DTQ_NATS_TOKEN",
  nkeyFile: "DTQ_NATS_NKEY",
  credsFile: "DTQ_NATS_CREDS",
  ca: "DTQ_NATS_TLS_CA",
  cert: "DTQ_NATS_TLS_CERT",
  key: "DTQ_NATS_TLS_KEY"
} as const

type Settings = { -readonly [K in keyof typeof CREDENTIAL_ENV]?: string | undefined }

const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")) as T

const fromSettings = (s: Settings): NatsCredentials => {
  const tls = defined({ ca: s.ca, cert: s.cert, key: s.key })
  return defined({ user: s.user, password: s.password, token: s.token, nkeyFile: s.nkeyFile, credsFile: s.credsFile, ...(Object.keys(tls).length > 0 ? { tls } : {}) })
}

/** Credentials from DTQ_NATS_* variables. */
export const credentialsFromEnv = (env: NodeJS.ProcessEnv = process.env): NatsCredentials =>
  fromSettings(Object.fromEntries(Object.entries(CREDENTIAL_ENV).map(([k, name]) => [k, env[name]])) as Settings)

const hasAuth = (c: NatsCredentials): boolean =>
  c.user !== undefined || c.password !== undefined || c.token !== undefined || c.nkeyFile !== undefined || c.credsFile !== undefined

/**
 * Flags over the environment. The way of authenticating comes whole from one side (a `--nkey` flag is not
 * mixed with a user from the environment); TLS settings are merged key by key.
 */
export const mergeCredentials = (flags: NatsCredentials, env: NatsCredentials): NatsCredentials => {
  const auth = hasAuth(flags) ? flags : env
  const tls = { ...env.tls, ...flags.tls }
  const { tls: _t, ...rest } = auth
  return { ...rest, ...(Object.keys(tls).length > 0 ? { tls } : {}) }
}

/** A URL list with its user info taken out: `nats://u:p@h:4222` gives server `nats://h:4222`, user u, password p. */
export const splitUserInfo = (url: string): { servers: string[]; user?: string; password?: string; token?: string } => {
  const servers: string[] = []
  let found: { user?: string; password?: string; token?: string } = {}
  for (const raw of url.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const match = /^([a-z]+:\/\/)?([^@/]*)@(.*)$/i.exec(raw)
    if (match === null) {
      servers.push(raw)
      continue
    }
    const [, scheme = "", info = "", rest = ""] = match
    servers.push(`${scheme}${rest}`)
    const colon = info.indexOf(":")
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s)
      } catch {
        return s
      }
    }
    // `nats://TOKEN@host` is a token; `nats://user:pass@host` a user and password.
    found = colon === -1 ? { token: decode(info) } : { user: decode(info.slice(0, colon)), password: decode(info.slice(colon + 1)) }
  }
  return { servers, ...found }
}

/** A URL (list) fit to print: user info is replaced by `***`. */
export const redactUrl = (url: string): string => url.replace(/([a-z]+:\/\/)?[^@/,\s]*@/gi, (_m, scheme: string | undefined) => `${scheme ?? ""}***@`)

/** Masks every secret (password, token, user info in URLs, seeds) that appears in `text`. */
export const redact = (text: string, credentials: NatsCredentials = {}): string => {
  let out = redactUrl(text)
  for (const secret of [credentials.password, credentials.token]) {
    if (secret !== undefined && secret.length > 0) out = out.split(secret).join("***")
  }
  // nkey seeds and JWTs never belong in a message, whichever file they came from.
  return out.replace(/\bS[UAO][A-Z2-7]{40,}\b/g, "***").replace(/\beyJ[\w-]+\.[\w-]+\.[\w-]*/g, "***")
}

const readSecretFile = (option: string, file: string): Uint8Array => {
  try {
    return readFileSync(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable by this user" : code === "EISDIR" ? "is a folder" : `cannot be read (${code ?? "error"})`
    throw new CredentialsUnusable({ option, file, detail: why })
  }
}

const checkReadable = (option: string, file: string | undefined): void => {
  if (file !== undefined) readSecretFile(option, file)
}

const seedOf = (file: string): Uint8Array => {
  const text = new TextDecoder().decode(readSecretFile("--nkey", file))
  // A seed file may hold comments or a public key too: the seed is the line that starts with S.
  const seed = text.split(/\r?\n/).map((l) => l.trim()).find((l) => /^S[UAO][A-Z2-7]{40,}$/.test(l))
  if (seed === undefined) throw new CredentialsUnusable({ option: "--nkey", file, detail: "holds no nkey seed (a line starting with SU)" })
  return new TextEncoder().encode(seed)
}

export type AuthOptions = {
  readonly servers: string[]
  readonly user?: string
  readonly pass?: string
  readonly token?: string
  readonly authenticator?: Authenticator
  readonly tls?: TlsOptions
  /** Every secret in play, for redaction. */
  readonly secrets: NatsCredentials
}

/** The connection options for a URL and credentials; throws CredentialsUnusable naming the file and why. */
export const authOptions = (url: string, credentials: NatsCredentials = {}): AuthOptions => {
  const fromUrl = splitUserInfo(url)
  const user = credentials.user ?? fromUrl.user
  const password = credentials.password ?? fromUrl.password
  const token = credentials.token ?? fromUrl.token
  if (password !== undefined && user === undefined) throw new CredentialsUnusable({ option: "--password", file: undefined, detail: "needs --user too" })
  const options: { -readonly [K in keyof AuthOptions]?: AuthOptions[K] } = { servers: fromUrl.servers }
  if (user !== undefined) options.user = user
  if (password !== undefined) options.pass = password
  if (token !== undefined) options.token = token
  if (credentials.nkeyFile !== undefined) options.authenticator = nkeyAuthenticator(seedOf(credentials.nkeyFile))
  if (credentials.credsFile !== undefined) options.authenticator = credsAuthenticator(readSecretFile("--creds", credentials.credsFile))
  const tls = credentials.tls
  if (tls !== undefined) {
    checkReadable("--tls-ca", tls.ca)
    checkReadable("--tls-cert", tls.cert)
    checkReadable("--tls-key", tls.key)
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw new CredentialsUnusable({ option: tls.cert === undefined ? "--tls-cert" : "--tls-key", file: undefined, detail: "a client certificate needs both --tls-cert and --tls-key" })
    }
    options.tls = defined({ caFile: tls.ca, certFile: tls.cert, keyFile: tls.key })
  }
  return { ...(options as AuthOptions), secrets: defined({ ...credentials, password, token }) }
}
