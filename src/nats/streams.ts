// Provisions the event stream idempotently: created when missing, checked when present.
import { jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { EVENTS_STREAM, EVENTS_SUBJECTS } from "./subjects.ts"
import { StreamSetupError } from "./errors.ts"

const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000 // retried publishes within 2 minutes are stored once
export { MAX_EVENT_BYTES } from "../domain/event-codec.ts"
/** The stream's own per-message limit (payload, subject and headers): the writer's MAX_EVENT_BYTES is below it. */
export const STREAM_MAX_MSG_BYTES = 1024 * 1024

/**
 * Optional size limits of the event stream. Reached, the server refuses new events (discard new) and the
 * writers report it: old events are never dropped to make room. No age limit: JetStream's max_age deletes
 * old events whatever the discard policy, silently; compaction behind a snapshot does that job (dtq compact).
 */
export type StreamLimits = {
  /** Bytes the stream may hold; undefined: unlimited. */
  readonly maxBytes?: number
  /** Events the stream may hold; undefined: unlimited. */
  readonly maxMsgs?: number
}

export type StreamOptions = {
  /** Replicas when the stream is created (1 on one server, 3 on a cluster). An existing stream keeps its own. */
  readonly replicas?: number
  /** Size limits to set (on creation, or on an existing stream whose limits differ). Undefined: left as they are. */
  readonly limits?: StreamLimits
}

const limitFields = (limits: StreamLimits | undefined) => ({
  max_msgs: limits?.maxMsgs ?? -1,
  max_bytes: limits?.maxBytes ?? -1,
  // Discard new: a full stream refuses writes (reported loudly) instead of silently losing its oldest events.
  discard: (limits?.maxMsgs === undefined && limits?.maxBytes === undefined ? "old" : "new") as StreamConfig["discard"]
})

export const eventStreamConfig = (replicas: number, limits?: StreamLimits): Partial<StreamConfig> & { name: string } => ({
  name: EVENTS_STREAM,
  subjects: [EVENTS_SUBJECTS],
  storage: "file" as StreamConfig["storage"],
  retention: "limits" as StreamConfig["retention"],
  ...limitFields(limits),
  max_age: 0, // the log is the source of truth: kept until an operator compacts it (docs/operations.md)
  max_msg_size: STREAM_MAX_MSG_BYTES,
  duplicate_window: DUPLICATE_WINDOW_NS,
  num_replicas: replicas,
  allow_direct: true
})

export const openManager = async (nc: NatsConnection): Promise<JetStreamManager> => {
  try {
    return await jetstreamManager(nc, { timeout: 5000 })
  } catch (error) {
    throw new StreamSetupError({
      detail: `JetStream is not available on ${nc.getServer()}: ${(error as Error).message} (start nats-server with -js)`
    })
  }
}

/** Creates the event stream, or verifies that the existing one is compatible. */
export const ensureEventStream = async (jsm: JetStreamManager, options: StreamOptions = {}): Promise<void> => {
  const existing = await jsm.streams.info(EVENTS_STREAM).catch((error: Error) => {
    if (/not found/i.test(error.message)) return undefined
    throw new StreamSetupError({ detail: `cannot read stream ${EVENTS_STREAM}: ${error.message}` })
  })
  if (existing === undefined) {
    try {
      await jsm.streams.add(eventStreamConfig(options.replicas ?? 1, options.limits))
      return
    } catch (error) {
      // Another process may have created it at the same moment: fall through to the check.
      if (!/already in use|exists/i.test((error as Error).message)) {
        throw new StreamSetupError({ detail: `cannot create stream ${EVENTS_STREAM}: ${(error as Error).message}` })
      }
    }
  }
  const config = existing?.config ?? (await jsm.streams.info(EVENTS_STREAM)).config
  const problems: string[] = []
  if (!config.subjects?.includes(EVENTS_SUBJECTS)) problems.push(`its subjects are ${JSON.stringify(config.subjects)}, not ["${EVENTS_SUBJECTS}"]`)
  if (config.retention !== "limits") problems.push(`its retention is ${config.retention}, not limits`)
  if (config.max_msg_size !== -1 && config.max_msg_size !== undefined && config.max_msg_size < STREAM_MAX_MSG_BYTES) {
    problems.push(`its max_msg_size ${config.max_msg_size} is below ${STREAM_MAX_MSG_BYTES}`)
  }
  if (problems.length > 0) {
    throw new StreamSetupError({
      detail: `stream ${EVENTS_STREAM} exists but is incompatible with dtq: ${problems.join("; ")}. Remove it (nats stream rm ${EVENTS_STREAM}) or point dtq at another server.`
    })
  }
  if (options.limits === undefined) return
  const wanted = limitFields(options.limits)
  if (config.max_msgs === wanted.max_msgs && config.max_bytes === wanted.max_bytes && config.discard === wanted.discard) return
  try {
    await jsm.streams.update(EVENTS_STREAM, { ...config, ...wanted })
  } catch (error) {
    throw new StreamSetupError({ detail: `cannot set the limits of stream ${EVENTS_STREAM} (${JSON.stringify(wanted)}): ${(error as Error).message}` })
  }
}

/** The limits an existing stream has now (undefined: unlimited). */
export const streamLimitsOf = (config: Pick<StreamConfig, "max_msgs" | "max_bytes">): StreamLimits => ({
  ...(config.max_bytes > 0 ? { maxBytes: config.max_bytes } : {}),
  ...(config.max_msgs > 0 ? { maxMsgs: config.max_msgs } : {})
})
