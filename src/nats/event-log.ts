// The event log on JetStream: append (deduplicated by event id, retried on transient errors), read a
// range in order, and tail from a sequence. The only module that knows how events are stored.
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { headers, type NatsConnection } from "@nats-io/transport-node"
import { encodeEvent } from "../domain/event-codec.ts"
import type { DtqEvent } from "../domain/events.ts"
import { retryPromise } from "./retry.ts"
import { ensureEventStream, MAX_EVENT_BYTES, openManager, type StreamOptions } from "./streams.ts"
import { EVENTS_STREAM, HEADER_TYPE, HEADER_WRITER, eventSubject } from "./subjects.ts"

export type RawEvent = { readonly seq: number; readonly subject: string; readonly data: Uint8Array; readonly time: number }
export type OnRawEvent = (event: RawEvent) => void

export type AppendOptions = {
  /** Compare-and-set on the subject: stored only if the last message on this subject has this sequence. */
  readonly expectLastSubjectSeq?: number
}

/** A publish the server refused for good (not a passing fault): retrying cannot help. */
export class AppendRefused extends Error {}

const RETRY = { times: 12, baseMs: 50, maxMs: 2000 } as const
const PERMANENT = /wrong last|maximum payload|message size|exceeds|not permitted|permissions/i

export class EventLog {
  readonly js: JetStreamClient
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager

  private constructor(nc: NatsConnection, jsm: JetStreamManager) {
    this.nc = nc
    this.jsm = jsm
    this.js = jetstream(nc, { timeout: 2000 })
  }

  static async open(nc: NatsConnection, options: StreamOptions = {}): Promise<EventLog> {
    const jsm = await openManager(nc)
    await ensureEventStream(jsm, options)
    return new EventLog(nc, jsm)
  }

  /** Appends one event; resolves with its stream sequence once it is durable. */
  async append(event: DtqEvent, options: AppendOptions = {}): Promise<number> {
    const data = encodeEvent(event)
    if (data.byteLength > MAX_EVENT_BYTES) {
      throw new AppendRefused(`${event.type} ${event.id} is ${data.byteLength} bytes, over the ${MAX_EVENT_BYTES}-byte event limit`)
    }
    const h = headers()
    h.set(HEADER_TYPE, event.type)
    h.set(HEADER_WRITER, `${event.writer.role}/${event.writer.id}`)
    const publish = () =>
      this.js.publish(eventSubject(event), data, {
        msgID: event.id,
        headers: h,
        ...(options.expectLastSubjectSeq === undefined ? {} : { expect: { lastSubjectSequence: options.expectLastSubjectSeq } })
      })
    try {
      return (await publish()).seq
    } catch (first) {
      if (PERMANENT.test(String(first))) throw new AppendRefused(`${event.type} refused: ${(first as Error).message}`)
      // Same msgID on every try: JetStream stores the event once however often it is sent.
      return (await retryPromise(publish, RETRY)).seq
    }
  }

  /** The sequence of the newest event on a subject (0 when there is none). */
  async lastSeqOn(subject: string): Promise<number> {
    const msg = await this.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject }).catch(() => null)
    return msg?.seq ?? 0
  }

  /** The sequence of the newest stored event (0 when the log is empty). */
  async lastSeq(): Promise<number> {
    const info = await this.jsm.streams.info(EVENTS_STREAM)
    return info.state.last_seq
  }

  /**
   * Delivers every stored event from `fromSeq` through `untilSeq` (default: the newest at call time),
   * in order; resolves with the last sequence delivered (fromSeq - 1 when there was nothing).
   */
  async readRange(fromSeq: number, untilSeq: number | undefined, onEvent: OnRawEvent): Promise<number> {
    const until = untilSeq ?? (await this.lastSeq())
    if (until < fromSeq) return fromSeq - 1
    let last = fromSeq - 1
    const consumer = await this.js.consumers.get(EVENTS_STREAM, {
      deliver_policy: "by_start_sequence" as never,
      opt_start_seq: Math.max(1, fromSeq)
    })
    const messages = await consumer.consume({ max_messages: 4096 })
    for await (const m of messages) {
      onEvent({ seq: m.seq, subject: m.subject, data: m.data, time: m.info.timestampNanos / 1e6 })
      last = m.seq
      if (m.seq >= until) break
    }
    await messages.close()
    return last
  }

  /** Delivers every event from `fromSeq` on, as it is stored, until stopped. Survives reconnects. */
  async tail(fromSeq: number, onEvent: OnRawEvent): Promise<Tail> {
    const consumer = await this.js.consumers.get(EVENTS_STREAM, {
      deliver_policy: "by_start_sequence" as never,
      opt_start_seq: Math.max(1, fromSeq)
    })
    // Short pull expiry and heartbeats: a pull lost with a restarted server is noticed within ~2 s
    // (the defaults, 30 s, would stall the tail that long).
    const messages = await consumer.consume({ max_messages: 4096, expires: 5000, idle_heartbeat: 1000 })
    const done = (async () => {
      for await (const m of messages) {
        onEvent({ seq: m.seq, subject: m.subject, data: m.data, time: m.info.timestampNanos / 1e6 })
      }
    })()
    return {
      stop: async () => {
        await messages.close().catch(() => undefined)
        await done.catch(() => undefined)
      },
      done
    }
  }
}

export type Tail = { readonly stop: () => Promise<void>; readonly done: Promise<void> }
