// Connecting to the cluster. One-shot commands fail fast with ClusterUnreachable; long-lived roles
// (coordinator, worker) reconnect forever, riding through a server restart.
import { connect, type NatsConnection } from "@nats-io/transport-node"
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
}

export const connectCluster = async (url: string, options: ConnectOptions): Promise<NatsConnection> => {
  const servers = url.split(",").map((s) => s.trim()).filter((s) => s !== "")
  try {
    return await connect({
      servers,
      name: options.name,
      noAsyncTraces: true, // hot paths: async stack traces cost about a third of the throughput
      timeout: options.timeoutMs ?? 3000,
      maxReconnectAttempts: options.reconnectForever === false ? 0 : -1,
      reconnectTimeWait: 250,
      pingInterval: 5000,
      maxPingOut: 3
    })
  } catch (error) {
    throw new ClusterUnreachable({ url, detail: describeConnectError(error) })
  }
}

const describeConnectError = (error: unknown): string => {
  const text = error instanceof Error ? error.message : String(error)
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : ""
  const detail = cause === "" || text.includes(cause) ? text : `${text} (${cause})`
  return detail.replace(/\s+/g, " ").trim()
}
