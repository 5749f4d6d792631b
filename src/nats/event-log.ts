// The event log on JetStream: append (deduplicated by event id, retried on transient errors), read a
// range in order, and tail from a sequence. The only module that knows how events are stored.
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { headers, type NatsConnection } from "@nats-io/transport-node"
import { encodeEvent, MAX_EVENT_BYTES } from "../domain/event-codec.ts"
import type { DtqEvent } from "../domain/events.ts"
import { retryPromise } from "./retry.ts"
import { ensureEventStream, openManager, type StreamOptions } from "./streams.ts"
import { EventTooLarge, StreamFull } from "./errors.ts"
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
/** Reads of stream state and consumer creation ride through a server or stream-leader fail-over. */
const READ_RETRY = { times: 6, baseMs: 100, maxMs: 2000 } as const
const PERMANENT = /wrong last|maximum payload|message size|exceeds|not permitted|permissions/i
/** A stream limit reached under discard new (JetStream's "maximum messages/bytes exceeded", code 10077 on some servers). */
const FULL = /maximum (messages|bytes) exceeded|resource limits exceeded|insufficient resources/i

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
    if (data.byteLength > MAX_EVENT_BYTES) throw new EventTooLarge({ type: event.type, id: event.id, bytes: data.byteLength, limit: MAX_EVENT_BYTES })
    const h = headers()
    h.set(HEADER_TYPE, event.type)
    h.set(HEADER_WRITER, `${event.writer.role}/${event.writer.id}`)
    const publish = () =>
      this.js.publish(eventSubject(event), data, {
        msgID: event.id,
        headers: h,
        ...(options.expectLastSubjectSeq === undefined ? {} : { expect: { lastSubjectSequence: options.expectLastSubjectSeq } })
      })
    const full = (error: unknown) => FULL.test(String(error)) ? new StreamFull({ stream: EVENTS_STREAM, type: event.type, detail: (error as Error).message }) : undefined
    try {
      return (await publish()).seq
    } catch (first) {
      const isFull = full(first)
      if (isFull !== undefined) throw isFull
      if (PERMANENT.test(String(first))) throw new AppendRefused(`${event.type} refused: ${(first as Error).message}`)
      // Same msgID on every try: JetStream stores the event once however often it is sent.
      try {
        return (await retryPromise(publish, RETRY)).seq
      } catch (error) {
        throw full(error) ?? error
      }
    }
  }

  /** The sequence of the newest event on a subject (0 when there is none). */
  async lastSeqOn(subject: string): Promise<number> {
    const msg = await retryPromise(
      () => this.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject }).catch((error: Error) => {
        if (/no message found|not found/i.test(error.message)) return null
        throw error
      }),
      READ_RETRY
    )
    return msg?.seq ?? 0
  }

  /** The sequence of the newest stored event (0 when the log is empty). */
  async lastSeq(): Promise<number> {
    const info = await retryPromise(() => this.jsm.streams.info(EVENTS_STREAM), READ_RETRY)
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
    const consumer = await retryPromise(
      () => this.js.consumers.get(EVENTS_STREAM, { deliver_policy: "by_start_sequence" as never, opt_start_seq: Math.max(1, fromSeq) }),
      READ_RETRY
    )
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
  tail(fromSeq: number, onEvent: OnRawEvent): Promise<Tail> {
    return this.#follow(undefined, fromSeq - 1, () => this.lastSeq(), onEvent)
  }

  /**
   * Delivers the events stored on one subject from now on, in order, until stopped: a worker takes its
   * leases this way, so it acts only on leases that are in the log (never ahead of them).
   */
  async followSubject(subject: string, onEvent: OnRawEvent): Promise<Tail> {
    // From just after everything stored now: nothing that lands while the consumer is created is missed.
    return this.#follow(subject, await this.lastSeq(), () => this.lastSeqOn(subject), onEvent)
  }

  /** Delivers the events stored on one subject from sequence `fromSeq` on, in order, until stopped. */
  followSubjectFrom(subject: string, fromSeq: number, onEvent: OnRawEvent): Promise<Tail> {
    return this.#follow(subject, Math.max(0, fromSeq - 1), () => this.lastSeqOn(subject), onEvent)
  }

  /** The sequence of the oldest stored event (above 1 once the log was compacted). */
  async firstSeq(): Promise<number> {
    const info = await retryPromise(() => this.jsm.streams.info(EVENTS_STREAM), READ_RETRY)
    return info.state.first_seq
  }

  /**
   * An ordered consumer from `after + 1` that heals itself. If its iterator ends for any reason but a
   * stop, or if a watchdog sees the stream ahead of what was delivered twice in a row (a consumer that
   * died with its server and was never re-created), a new one starts after the last sequence delivered.
   */
  async #follow(subject: string | undefined, after: number, storedUpTo: () => Promise<number>, onEvent: OnRawEvent): Promise<Tail> {
    let stopped = false
    let delivered = after
    let current: { close: () => Promise<void | Error> } | undefined
    const open = async () => {
      const options = {
        deliver_policy: "by_start_sequence" as never,
        opt_start_seq: delivered + 1,
        ...(subject === undefined ? {} : { filter_subjects: subject })
      }
      const consumer = await retryPromise(() => this.js.consumers.get(EVENTS_STREAM, options), READ_RETRY)
      // Short pull expiry and heartbeats: a pull lost with a restarted server is noticed within ~2 s.
      return consumer.consume({ max_messages: 4096, expires: 5000, idle_heartbeat: 1000 })
    }
    let messages = await open()
    current = messages
    let behind = 0
    let seenAtCheck = delivered
    const watchdog = setInterval(() => {
      void storedUpTo().then(
        (stored) => {
          behind = stored > delivered && delivered === seenAtCheck ? behind + 1 : 0
          seenAtCheck = delivered
          if (behind >= 2 && !stopped) {
            behind = 0
            void current?.close().catch(() => undefined) // the loop below re-creates it
          }
        },
        () => undefined
      )
    }, 2000)
    const done = (async () => {
      for (;;) {
        try {
          for await (const m of messages) {
            if (m.seq <= delivered) continue // a re-created consumer may overlap
            delivered = m.seq
            onEvent({ seq: m.seq, subject: m.subject, data: m.data, time: m.info.timestampNanos / 1e6 })
          }
        } catch {
          // the iterator failed: re-created below
        }
        if (stopped) return
        for (;;) {
          try {
            messages = await open()
            current = messages
            break
          } catch {
            if (stopped) return
            await new Promise((r) => setTimeout(r, 500))
          }
        }
      }
    })()
    return {
      stop: async () => {
        stopped = true
        clearInterval(watchdog)
        await current?.close().catch(() => undefined)
        await done.catch(() => undefined)
      },
      done
    }
  }
}

export type Tail = { readonly stop: () => Promise<void>; readonly done: Promise<void> }
