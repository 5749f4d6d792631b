// Wire form of events: UTF-8 JSON. Decoding is total: it returns the event or the reason it was refused,
// and never throws, so a hostile or buggy writer can never stop a reader.
import { Schema } from "./schema.ts"
import { EventSchemas, isEventType, type DtqEvent, type EventType } from "./events.ts"
import { describeIssue } from "./schema-issue.ts"

/**
 * The largest event payload dtq writes or folds. Below the stream's max_msg_size and the server's default
 * max_payload (both 1 MiB, which also count the subject and headers), so a refusal is always the writer's.
 */
export const MAX_EVENT_BYTES = 1_000_000

export type Decoded = { readonly ok: true; readonly event: DtqEvent } | { readonly ok: false; readonly reason: string }

const decoders = Object.fromEntries(
  Object.entries(EventSchemas).map(([type, schema]) => [type, Schema.decodeUnknownResult(schema as Schema.Codec<unknown>)])
) as unknown as Record<EventType, (input: unknown) => { _tag: "Success"; success: unknown } | { _tag: "Failure"; failure: unknown }>

const textDecoder = new TextDecoder("utf-8", { fatal: true })
const textEncoder = new TextEncoder()

/** Validates a parsed value as an event. */
export const decodeEventValue = (value: unknown): Decoded => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not a JSON object" }
  }
  const type = (value as { type?: unknown }).type
  if (!isEventType(type)) {
    return { ok: false, reason: type === undefined ? "no event type" : `unknown event type ${JSON.stringify(type).slice(0, 80)}` }
  }
  const result = decoders[type](value)
  if (result._tag === "Failure") return { ok: false, reason: `${type}: ${describeIssue(result.failure, value)}` }
  return { ok: true, event: result.success as DtqEvent }
}

/** Decodes the payload of a stored message. */
export const decodeEvent = (bytes: Uint8Array): Decoded => {
  // A writer that bypassed dtq's own check (or an older limit) is not folded: the limit bounds memory.
  if (bytes.byteLength > MAX_EVENT_BYTES) return { ok: false, reason: `${bytes.byteLength} bytes, over the ${MAX_EVENT_BYTES}-byte event limit` }
  let value: unknown
  try {
    value = JSON.parse(textDecoder.decode(bytes))
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${(error as Error).message.slice(0, 120)}` }
  }
  return decodeEventValue(value)
}

export const encodeEvent = (event: DtqEvent): Uint8Array => textEncoder.encode(JSON.stringify(event))
