// The coordinator term as a worker sees it: the term subject's history folded with the fold's own rule (a
// claim counts only as exactly the current epoch + 1, on its own subject). A worker judges the decisions it
// acts on by it, so a forged epoch cannot make it ignore real leases, and a decision of another term (a
// deposed leader's, or a forgery's) cannot make it abort work that the log still counts as running.
import { decodeEvent } from "../domain/event-codec.ts"
import { TERM_KEY } from "../domain/events.ts"
import { eventTypeSubjectOf } from "../domain/subject-scheme.ts"
import { identityProblem } from "../projections/identity.ts"
import type { EventLog, RawEvent, Tail } from "../nats/event-log.ts"

const TERM_SUBJECT = eventTypeSubjectOf("CoordinatorElected", TERM_KEY)

export class TermWatch {
  #epoch = 0
  #tail: Tail | undefined
  #delivered = 0
  /** The log was compacted: the first claim still stored is taken as the base, whatever its epoch. */
  #trustFirst = false
  readonly #onChange: () => void

  private constructor(onChange: () => void) {
    this.#onChange = onChange
  }

  /** Reads the term subject's history (bounded by `catchUpMs`) and follows it. */
  static async start(log: EventLog, onChange: () => void, catchUpMs = 10_000): Promise<TermWatch> {
    const watch = new TermWatch(onChange)
    watch.#trustFirst = (await log.firstSeq()) > 1
    const last = await log.lastSeqOn(TERM_SUBJECT)
    watch.#tail = await log.followSubjectFrom(TERM_SUBJECT, 1, (m) => watch.#on(m))
    const deadline = Date.now() + catchUpMs
    while (watch.#delivered < last && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    return watch
  }

  get epoch(): number {
    return this.#epoch
  }

  #on(m: RawEvent): void {
    this.#delivered = m.seq
    const decoded = decodeEvent(m.data)
    if (!decoded.ok || decoded.event.type !== "CoordinatorElected" || identityProblem(decoded.event, m.subject) !== undefined) return
    const epoch = decoded.event.epoch
    if (epoch === this.#epoch + 1 || (this.#trustFirst && this.#epoch === 0)) {
      this.#epoch = epoch
      this.#onChange()
    }
  }

  stop(): Promise<void> {
    return this.#tail?.stop() ?? Promise.resolve()
  }
}
