// Connecting to the cluster. One-shot commands fail fast with ClusterUnreachable; long-lived roles
// (coordinator, worker) reconnect forever, riding through a server restart.
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { authOptions, redact, redactUrl, type NatsCredentials } from "./credentials.ts"
import { ClusterUnreachable } from "./errors.ts"

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222"

/** The URL from `--nats`, else env DTQ_NATS_URL, else the local default. */
export const resolveNatsUrl = (flag: string | undefined): string => flag ?? process.env.DTQ_NATS_URL ?? DEFAULT_NATS_URL

export type ConnectOptions = {
  readonly name: string
  /** Keep reconnecting after a lost connection (long-lived roles). Default true. */
  readonly reconnectForever?: boolean
  /** How long the first connection may take, in ms. Default 3000. */
  readonly timeoutMs?: number
  /** User/password, token, nkey, creds and TLS (see credentials.ts); user info in the URL counts too. */
  readonly credentials?: NatsCredentials
}

export const connectCluster = async (url: string, options: ConnectOptions): Promise<NatsConnection> => {
  const { secrets, ...auth } = authOptions(url, options.credentials)
  try {
    return await connect({
      ...auth,
      name: options.name,
      noAsyncTraces: true, // hot paths: async stack traces cost about a third of the throughput
      timeout: options.timeoutMs ?? 3000,
      maxReconnectAttempts: options.reconnectForever === false ? 0 : -1,
      reconnectTimeWait: 250,
      pingInterval: 5000,
      maxPingOut: 3
    })
  } catch (error) {
    throw new ClusterUnreachable({ url: redactUrl(url), detail: redact(describeConnectError(error), secrets) })
  }
}

const describeConnectError = (error: unknown): string => {
  const text = error instanceof Error ? error.message : String(error)
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : ""
  const detail = cause === "" || text.includes(cause) ? text : `${text} (${cause})`
  const flat = detail.replace(/\s+/g, " ").trim()
  // Name the cause in words a user acts on; the library's own text follows.
  if (/authorization violation|authentication/i.test(flat)) return `the server refused the credentials (${flat})`
  if (/certificate|self[- ]signed|tls|ssl|handshake/i.test(flat)) return `TLS failed: ${flat}`
  return flat
}
