// Where and how a command connects: --nats URL and the credential/TLS flags, over DTQ_NATS_* variables.
import { resolveNatsUrl } from "../nats/connection.ts"
import { credentialsFromEnv, mergeCredentials, type NatsCredentials } from "../nats/credentials.ts"
import { stringFlag, type Parsed } from "./args.ts"

export type NatsTarget = { readonly url: string; readonly credentials: NatsCredentials }

export const natsTarget = (args: Parsed): NatsTarget => {
  const flag = (name: string) => stringFlag(args, name)
  const tls = Object.fromEntries(
    ([["ca", "tls-ca"], ["cert", "tls-cert"], ["key", "tls-key"]] as const).flatMap(([k, f]) => (flag(f) === undefined ? [] : [[k, flag(f)]]))
  )
  const fromFlags = Object.fromEntries(
    ([["user", "user"], ["password", "password"], ["token", "token"], ["nkeyFile", "nkey"], ["credsFile", "creds"]] as const).flatMap(([k, f]) =>
      flag(f) === undefined ? [] : [[k, flag(f)]]
    )
  ) as NatsCredentials
  const flags: NatsCredentials = { ...fromFlags, ...(Object.keys(tls).length > 0 ? { tls } : {}) }
  return { url: resolveNatsUrl(flag("nats")), credentials: mergeCredentials(flags, credentialsFromEnv()) }
}
