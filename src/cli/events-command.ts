// `dtq events [--follow]`: the log, one line per event, each annotated by the fold: what was set aside and why.
import { foldMessage } from "../projections/fold-message.ts"
import { decodeEvent } from "../domain/event-codec.ts"
import { emptyState } from "../projections/state.ts"
import { eventDetails } from "../producer/format.ts"
import type { RawEvent } from "../nats/event-log.ts"
import { boolFlag, intFlag, parseArgs } from "./args.ts"
import { isSkewed } from "../projections/clock-skew.ts"
import { withClient } from "./job-commands.ts"

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23)
/** The writer's own stamp, shown only when its clock is off the stream's by more than the skew bound. */
const writerClock = (ts: number, stored: number): string => {
  const offset = Math.round(ts - stored)
  return isSkewed(offset) ? ` (writer's clock ${offset >= 0 ? "+" : ""}${offset} ms)` : ""
}

export const eventsCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("events", argv, { follow: "boolean", json: "boolean", from: "string", limit: "string" })
  const from = intFlag(args, "from", 1, Number.MAX_SAFE_INTEGER) ?? 1
  const limit = intFlag(args, "limit", 1, Number.MAX_SAFE_INTEGER)
  const asJson = boolFlag(args, "json")
  return withClient(args, async (client) => {
    // The fold runs from the start, so that events are judged against the state they met.
    const state = emptyState()
    let printed = 0
    const show = (m: RawEvent) => {
      const before = state.rejectedCount
      const decoded = decodeEvent(m.data) // shown as written, even when the fold sets it aside
      foldMessage(state, m, m.data)
      if (m.seq < from || (limit !== undefined && printed >= limit)) return
      printed++
      const reasons = state.recentRejected.slice(Math.max(0, state.recentRejected.length - (state.rejectedCount - before))).map((r) => r.reason)
      if (asJson) {
        process.stdout.write(`${JSON.stringify({ seq: m.seq, subject: m.subject, time: m.time, ...(decoded.ok ? { event: decoded.event } : { raw: new TextDecoder().decode(m.data).slice(0, 500) }), ...(reasons.length > 0 ? { setAside: reasons } : {}) })}\n`)
        return
      }
      // The stream's time, the one the fold uses; a writer's own stamp only when its clock is off.
      const head = `#${m.seq} ${time(m.time)}${decoded.ok ? writerClock(decoded.event.ts, m.time) : ""}`
      const body = decoded.ok
        ? `${decoded.event.type.padEnd(18)} ${decoded.event.writer.role}/${decoded.event.writer.id}  ${eventDetails(decoded.event)}`
        : `${"(undecodable)".padEnd(18)} on ${m.subject}`
      process.stdout.write(`${head} ${body}${reasons.length > 0 ? `\n      SET ASIDE: ${reasons.join("; ")}` : ""}\n`)
    }
    const last = await client.log.readRange(1, undefined, show)
    if (!boolFlag(args, "follow")) return 0
    const tail = await client.log.tail(last + 1, show)
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve)
      process.once("SIGTERM", resolve)
    })
    await tail.stop()
    return 0
  })
}
