// The coordinator: replays the log into its projections, claims a term (epoch), then tails the log and
// turns the state into decisions. Everything it knows is in the log, so a kill -9 loses nothing.
import { hostname } from "node:os"
import type { NatsConnection, Subscription } from "@nats-io/transport-node"
import type { DtqEvent } from "../domain/events.ts"
import { newEventId, newProcessId } from "../domain/ids.ts"
import { foldMessage } from "../projections/fold-message.ts"
import { emptyState, type ClusterState } from "../projections/state.ts"
import { connectCluster } from "../nats/connection.ts"
import { AppendRefused, EventLog, type RawEvent, type Tail } from "../nats/event-log.ts"
import { HEARTBEAT_ALL, eventTypeSubject } from "../nats/subjects.ts"
import { TERM_KEY } from "../domain/events.ts"
import { serveControl } from "./control.ts"
import { expiredAttempts } from "./lease-expiry.ts"
import { HeartbeatClock, lostWorkers } from "./liveness.ts"
import { speculativeCopies } from "./speculation.ts"
import { DEFAULT_SCHEDULER_OPTIONS, InFlight, plan, type Draft } from "./scheduler.ts"

export type CoordinatorOptions = {
  readonly url: string
  readonly id?: string
  /** A worker silent this long is declared lost and its tasks are re-leased. Default 5000 ms. */
  readonly workerTimeoutMs?: number
  /** How often time-based checks run (retries due, silent workers). Default 100 ms. */
  readonly tickMs?: number
  readonly log?: (line: string) => void
  /** Called once if another coordinator takes over the cluster (this one then stops deciding). */
  readonly onDeposed?: (by: string | undefined, epoch: number) => void
}

const TERM_SUBJECT = eventTypeSubject("CoordinatorStarted", TERM_KEY)

export class Coordinator {
  readonly id: string
  readonly state: ClusterState = emptyState()
  readonly nc: NatsConnection
  readonly log: EventLog
  readonly #options: CoordinatorOptions
  readonly #inFlight = new InFlight()
  readonly #own = new Map<string, () => void>() // my events in flight: id -> release
  readonly #heartbeats = new HeartbeatClock()
  readonly #subscriptions: Subscription[] = []
  #epoch = 0
  #leading = false
  #deposed = false
  #stopped = false
  #termSeq = 0
  #graceSince = 0
  #dirty = false
  #tail: Tail | undefined
  #ticker: NodeJS.Timeout | undefined
  #caughtUp: { seq: number; resolve: () => void } | undefined

  private constructor(nc: NatsConnection, log: EventLog, options: CoordinatorOptions) {
    this.nc = nc
    this.log = log
    this.#options = options
    this.id = options.id ?? newProcessId("c")
  }

  static async start(options: CoordinatorOptions): Promise<Coordinator> {
    const id = options.id ?? newProcessId("c")
    const nc = await connectCluster(options.url, { name: `dtq-coordinator-${id}` })
    try {
      const log = await EventLog.open(nc)
      const coordinator = new Coordinator(nc, log, { ...options, id })
      await coordinator.#run()
      return coordinator
    } catch (error) {
      await nc.close().catch(() => undefined)
      throw error
    }
  }

  get epoch(): number {
    return this.#epoch
  }

  get leading(): boolean {
    return this.#leading
  }

  async #run(): Promise<void> {
    const last = await this.log.lastSeq()
    const t0 = performance.now()
    await this.log.readRange(1, last, (m) => this.#foldRaw(m))
    this.#say(`replayed ${this.state.seq} events in ${Math.round(performance.now() - t0)} ms`)
    this.#tail = await this.log.tail(this.state.seq + 1, (m) => this.#onTail(m))
    await this.#claim()
  }

  /** Starts a new term: CoordinatorStarted with the next epoch, a compare-and-set on the term subject. */
  async #claim(): Promise<void> {
    for (let tries = 0; tries < 50 && !this.#stopped; tries++) {
      const epoch = this.state.epoch + 1
      const event: DtqEvent = {
        type: "CoordinatorStarted",
        id: newEventId(),
        v: 1,
        ts: Date.now(),
        writer: { role: "coordinator", id: this.id },
        epoch,
        host: hostname(),
        pid: process.pid
      }
      try {
        const seq = await this.log.append(event, { expectLastSubjectSeq: this.#termSeq })
        this.#epoch = epoch
        await this.#waitFolded(seq)
        if (this.state.epoch === epoch && this.state.leaderId === this.id) return this.#lead()
      } catch (error) {
        if (!(error instanceof AppendRefused)) throw error
        // Someone else claimed a term meanwhile: catch up with the log and try again.
        await this.#waitFolded(await this.log.lastSeq())
      }
    }
    throw new Error("could not claim a coordinator term: the term subject keeps changing")
  }

  #waitFolded(seq: number): Promise<void> {
    if (this.state.seq >= seq) return Promise.resolve()
    return new Promise((resolve) => {
      this.#caughtUp = { seq, resolve }
    })
  }

  #lead(): void {
    this.#leading = true
    this.#startGrace()
    void this.#watchConnection()
    this.#say(`leading as ${this.id}, epoch ${this.#epoch}, at seq ${this.state.seq}`)
    const beats = this.nc.subscribe(HEARTBEAT_ALL, {
      callback: (_error, msg) => this.#heartbeats.beat(msg.subject.slice(HEARTBEAT_ALL.length - 1), Date.now())
    })
    this.#subscriptions.push(beats, ...serveControl(this))
    this.#ticker = setInterval(() => this.#tick(), this.#options.tickMs ?? 100)
    this.#markDirty()
  }

  /** Nobody could beat while this coordinator (or the server) was away: leases and workers get fresh time. */
  #startGrace(): void {
    this.#graceSince = Date.now()
    this.#heartbeats.startGrace(this.#graceSince)
  }

  async #watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === "reconnect") {
        this.#startGrace()
        this.#say(`reconnected to ${status.server}`)
      } else if (status.type === "disconnect") this.#say(`disconnected from ${status.server}; reconnecting`)
    }
  }

  #foldRaw(m: RawEvent): DtqEvent | undefined {
    if (m.subject === TERM_SUBJECT) this.#termSeq = m.seq
    const decoded = foldMessage(this.state, m.seq, m.data)
    if (!decoded.ok) {
      this.#say(`set aside event #${m.seq} on ${m.subject}: ${decoded.reason}`)
      return undefined
    }
    return decoded.event
  }

  #onTail(m: RawEvent): void {
    if (m.seq <= this.state.seq) return // already folded (the tail may overlap the replay)
    const before = this.state.rejectedCount
    const event = this.#foldRaw(m)
    if (event !== undefined) {
      const release = this.#own.get(event.id)
      if (release !== undefined) {
        release()
        this.#own.delete(event.id)
        if (this.state.rejectedCount > before) this.#say(`own decision #${m.seq} was not applied: ${this.state.recentRejected.at(-1)?.reason}`)
      }
      if (event.type === "WorkerJoined") this.#heartbeats.beat(event.workerId, Date.now())
      if (event.type === "CoordinatorStarted") this.#checkTerm()
    }
    if (this.#caughtUp !== undefined && this.state.seq >= this.#caughtUp.seq) {
      const { resolve } = this.#caughtUp
      this.#caughtUp = undefined
      resolve()
    }
    this.#markDirty()
  }

  #checkTerm(): void {
    if (this.#epoch === 0 || this.state.epoch <= this.#epoch || this.#deposed) return
    this.#deposed = true
    this.#leading = false
    this.#say(`deposed: ${this.state.leaderId} leads epoch ${this.state.epoch}; this coordinator stops deciding`)
    this.#options.onDeposed?.(this.state.leaderId, this.state.epoch)
  }

  #markDirty(): void {
    if (this.#dirty || !this.#leading) return
    this.#dirty = true
    setImmediate(() => {
      this.#dirty = false
      this.#schedule()
    })
  }

  #tick(): void {
    if (!this.#leading) return
    const now = Date.now()
    // In this order, each seeing the decisions before it as in flight: a lost worker's leases are
    // reclaimed by WorkerLost alone, and no copy goes to a worker that is being declared lost.
    for (const draft of lostWorkers(this.state, this.#heartbeats, this.#inFlight, now, this.#options.workerTimeoutMs ?? 5000)) this.#decide(draft, now)
    for (const draft of expiredAttempts(this.state, this.#inFlight, now, this.#graceSince)) this.#decide(draft, now)
    for (const draft of speculativeCopies(this.state, this.#inFlight, now)) this.#decide(draft, now)
    this.#schedule()
  }

  #schedule(): void {
    if (!this.#leading || this.#stopped) return
    const now = Date.now()
    for (const draft of plan(this.state, this.#inFlight, now, DEFAULT_SCHEDULER_OPTIONS)) this.#decide(draft, now)
  }

  #decide(draft: Draft, now: number): void {
    const event = { ...draft, id: newEventId(), v: 1, ts: now, writer: { role: "coordinator", id: this.id }, epoch: this.#epoch } as DtqEvent
    const release = this.#inFlight.hold(draft)
    this.#own.set(event.id, release)
    this.log.append(event).catch((error: Error) => {
      if (!this.#own.has(event.id)) return
      this.#own.delete(event.id)
      release()
      if (!this.#stopped) this.#say(`could not record ${event.type}: ${error.message}`)
    })
  }

  #say(line: string): void {
    this.#options.log?.(`[coordinator ${this.id}] ${line}`)
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#leading = false
    if (this.#ticker !== undefined) clearInterval(this.#ticker)
    for (const sub of this.#subscriptions) sub.unsubscribe()
    await this.#tail?.stop()
    await this.nc.drain().catch(() => undefined)
  }
}
