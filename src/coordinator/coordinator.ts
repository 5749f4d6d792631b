// The coordinator: loads the newest valid snapshot, replays the rest of the log, and tails it from then on
// (a hot standby). It leads while it holds the leader lease (a KV key with a TTL): it claims a term
// (CoordinatorElected, the next epoch) and turns the state into decisions. It stops deciding the moment it
// cannot be sure it still holds the lease; whatever an old leader writes after that is fenced by epoch.
import { hostname } from "node:os"
import type { NatsConnection, Subscription } from "@nats-io/transport-node"
import { TERM_KEY, type DtqEvent } from "../domain/events.ts"
import { newEventId, newProcessId } from "../domain/ids.ts"
import { foldMessage } from "../projections/fold-message.ts"
import { takeSnapshot } from "../projections/snapshot.ts"
import { recoveryStart } from "../nats/recovery.ts"
import { emptyState, type ClusterState } from "../projections/state.ts"
import { connectCluster } from "../nats/connection.ts"
import type { NatsCredentials } from "../nats/credentials.ts"
import { AppendRefused, EventLog, type RawEvent, type Tail } from "../nats/event-log.ts"
import { retryPromise } from "../nats/retry.ts"
import { StreamFull } from "../nats/errors.ts"
import type { StreamLimits } from "../nats/streams.ts"
import { LeaderLease, type LeaderRecord } from "../nats/leader-lease.ts"
import { SnapshotStore, type StoredSnapshot } from "../nats/snapshot-store.ts"
import { EVENTS_STREAM, HEARTBEAT_ALL, eventTypeSubject } from "../nats/subjects.ts"
import { serveControl } from "./control.ts"
import { expiredAttempts } from "./lease-expiry.ts"
import { HeartbeatClock, lostWorkers } from "./liveness.ts"
import { DEFAULT_SCHEDULER_OPTIONS, InFlight, plan, type Draft, type SchedulerOptions } from "./scheduler.ts"
import { speculativeCopies } from "./speculation.ts"
import { PRESENCE_ALL, presenceSubject, type Presence } from "./presence.ts"
import { Trainer, type TrainingDraft } from "./trainer.ts"
import { TensorStore } from "../nats/tensor-store.ts"
import { DatasetStore } from "../nats/dataset-store.ts"
import { ModelStore } from "../nats/model-store.ts"
import { PredictionStore } from "../nats/prediction-store.ts"
import { PredictionWriter, type PredictionsDraft } from "./predictions.ts"
import { StreamClock, type ClockSources } from "./stream-clock.ts"
import { isSkewed } from "../projections/clock-skew.ts"
import { expiredJobs } from "./retention.ts"
import { DEFAULT_RETENTION, retentionProblem, type RetentionPolicy } from "../domain/retention-policy.ts"

export type CoordinatorOptions = {
  readonly url: string
  /** NATS credentials and TLS (docs/operations.md). */
  readonly credentials?: NatsCredentials
  readonly id?: string
  /** A worker silent this long is declared lost and its tasks are re-leased. Default 5000 ms. */
  readonly workerTimeoutMs?: number
  /** How often time-based checks run (retries due, silent workers, expired leases). Default 100 ms. */
  readonly tickMs?: number
  /** The leader lease's TTL: a leader that cannot renew for this long is replaced. Default 1000 ms. */
  readonly leaseTtlMs?: number
  /** A snapshot after this many events... Default 20,000. */
  readonly snapshotEvery?: number
  /** ...or after this long with new events. Default 60,000 ms. */
  readonly snapshotIntervalMs?: number
  /** Skip snapshots entirely (replay the whole log at start). */
  readonly noSnapshots?: boolean
  /** Replicas for the stream and buckets when this coordinator creates them. */
  readonly replicas?: number
  readonly log?: (line: string) => void
  /** Called when another coordinator takes over (this one goes back to standing by). */
  readonly onDeposed?: (by: string | undefined, epoch: number) => void
  /** How jobs of one priority level share the workers: `fair` (default) or `fifo` (see scheduler.ts). */
  readonly sharing?: "fair" | "fifo"
  /** Where the stream clock's estimate reads elapsed and wall time (stream-clock.ts). Default: this process's clocks. */
  readonly clock?: ClockSources
  /** How long and how many finished jobs stay in the live state (retention.ts). Default 1 day, 1,000 jobs. */
  readonly retention?: Partial<RetentionPolicy>
  /** Size limits of the event stream (discard new: a full stream refuses writes, reported loudly). Default: none. */
  readonly streamLimits?: StreamLimits
  /**
   * Automatic compaction: after a snapshot, once the stream holds 10 % more than this many events, the
   * older ones that the snapshot covers and no running job needs are purged. Default 1,000,000; undefined
   * with `noCompaction`. `dtq compact` does it now.
   */
  readonly compactKeepEvents?: number
  readonly noCompaction?: boolean
}

export const DEFAULT_COMPACT_KEEP_EVENTS = 1_000_000

export type CompactResult =
  | { readonly compacted: true; readonly throughSeq: number; readonly purged: number; readonly firstSeq: number; readonly snapshotSeq: number }
  | { readonly compacted: false; readonly reason: string }

/** A full stream is reported at most this often (every refused decision would flood the log). */
const FULL_REPORT_MS = 5000

/** Retention is checked this often: finished jobs need not leave to the millisecond. */
const RETENTION_CHECK_MS = 1000

const TERM_SUBJECT = eventTypeSubject("CoordinatorElected", TERM_KEY)
/** A term claim that loses a race or is set aside is retried on this backoff, then the campaign backs off. */
const CLAIM_RETRY = { times: 8, baseMs: 50, maxMs: 1000 } as const
const CAMPAIGN_BACKOFF = { baseMs: 250, maxMs: 10_000 } as const
const SNAPSHOTS_KEPT = 3

export type SnapshotInfo = { readonly seq: number; readonly name: string; readonly size: number; readonly at: number; readonly how: "written" | "loaded" }

export class Coordinator {
  readonly id: string
  readonly nc: NatsConnection
  readonly log: EventLog
  state: ClusterState = emptyState()
  readonly #options: CoordinatorOptions
  readonly #lease: LeaderLease
  readonly #snapshots: SnapshotStore | undefined
  readonly tensors: TensorStore
  readonly #trainer: Trainer
  readonly #predictions: PredictionWriter
  readonly #schedulerOptions: SchedulerOptions
  readonly #inFlight = new InFlight()
  readonly #own = new Map<string, () => void>() // my events in flight: id -> release
  readonly #heartbeats = new HeartbeatClock()
  readonly #leaderSubscriptions: Subscription[] = []
  readonly #peers = new Map<string, Presence & { seenAt: number }>()
  readonly #timers: NodeJS.Timeout[] = []
  #epoch = 0
  #leading = false
  #claiming = false
  #campaignFailures = 0
  #nextCampaignAt = 0
  #stopped = false
  #graceSince = 0
  #lastTickAt = 0
  #dirty = false
  #tail: Tail | undefined
  #leaderTimers: NodeJS.Timeout[] = []
  #renewTimer: NodeJS.Timeout | undefined
  #renewing = false
  #caughtUp: { seq: number; resolve: () => void } | undefined
  #wake: { at: number; timer: NodeJS.Timeout } | undefined
  #snapshot: SnapshotInfo | undefined
  #snapshotting = false
  #lastSnapshotSeq = 0
  #lastSnapshotAt = Date.now() // the interval counts from start, not from 1970
  #lastRetentionAt = 0
  #fullReportedAt = 0
  /** The last refusal of a full stream (shown by `dtq info`), until a write succeeds again. */
  streamFull: { readonly at: number; readonly message: string } | undefined
  readonly retention: RetentionPolicy
  /** Takeover timing, for the failover benchmark: when the lease was won and the first decision made. */
  readonly takeover = { leaseAt: 0, firstDecisionAt: 0 }
  /** The stream's time as this coordinator estimates it: the "now" of every decision (stream-clock.ts). */
  readonly clock: StreamClock
  readonly #skewWarned = new Set<string>() // workers warned about their clock, until it is back within bounds

  private constructor(
    nc: NatsConnection,
    log: EventLog,
    lease: LeaderLease,
    snapshots: SnapshotStore | undefined,
    stores: { tensors: TensorStore; datasets: DatasetStore; models: ModelStore },
    options: CoordinatorOptions & { id: string }
  ) {
    this.nc = nc
    this.log = log
    this.#lease = lease
    this.#snapshots = snapshots
    this.#options = options
    this.id = options.id
    this.tensors = stores.tensors
    this.clock = new StreamClock(options.clock)
    this.retention = { ...DEFAULT_RETENTION, ...options.retention }
    const problem = retentionProblem(this.retention)
    if (problem !== undefined) throw new Error(`bad retention policy: ${problem}`)
    this.#schedulerOptions = options.sharing === undefined ? DEFAULT_SCHEDULER_OPTIONS : { ...DEFAULT_SCHEDULER_OPTIONS, sharing: options.sharing }
    this.#trainer = new Trainer({ ...stores, decide: (draft) => this.#decideTraining(draft), say: (line) => this.#say(line), now: () => this.clock.now() })
    // The predictions bucket is opened when the first inference job finishes (most clusters never need it).
    let predictionStore: Promise<PredictionStore> | undefined
    this.#predictions = new PredictionWriter({
      store: () => (predictionStore ??= PredictionStore.open(nc, options.replicas === undefined ? {} : { replicas: options.replicas }).catch((error: unknown) => {
        predictionStore = undefined
        throw error
      })),
      decide: (draft) => this.#decideTraining(draft),
      say: (line) => this.#say(line)
    })
  }

  static async start(options: CoordinatorOptions): Promise<Coordinator> {
    const id = options.id ?? newProcessId("c")
    const nc = await connectCluster(options.url, { name: `dtq-coordinator-${id}`, ...(options.credentials === undefined ? {} : { credentials: options.credentials }) })
    try {
      const replicas = options.replicas === undefined ? {} : { replicas: options.replicas }
      const log = await EventLog.open(nc, { ...replicas, ...(options.streamLimits === undefined ? {} : { limits: options.streamLimits }) })
      const lease = await LeaderLease.open(nc, { ttlMs: options.leaseTtlMs ?? 1000, ...replicas })
      const snapshots = options.noSnapshots === true ? undefined : await SnapshotStore.open(nc, replicas)
      const stores = { tensors: await TensorStore.open(nc, replicas), datasets: await DatasetStore.open(nc, replicas), models: await ModelStore.open(nc, replicas) }
      const coordinator = new Coordinator(nc, log, lease, snapshots, stores, { ...options, id })
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

  get lastSnapshot(): SnapshotInfo | undefined {
    return this.#snapshot
  }

  /** Other coordinators seen recently (standbys, or a leader). */
  get peers(): Array<Presence & { seenAt: number }> {
    const now = Date.now()
    return [...this.#peers.values()].filter((p) => now - p.seenAt < 3000)
  }

  async #run(): Promise<void> {
    // Read back during the replay below, it gives the stream clock its first upper bound. A full stream
    // must not keep a coordinator from starting: it is what an operator needs to compact.
    await this.#append({ type: "CoordinatorStarted", ...this.#envelope(), host: hostname(), pid: process.pid }).catch((error: unknown) => {
      if (!(error instanceof StreamFull)) throw error
    })
    const t0 = performance.now()
    const from = await this.#loadSnapshot()
    const last = await this.log.lastSeq()
    await this.log.readRange(from, last, (m) => this.#foldRaw(m))
    const ms = Math.round(performance.now() - t0)
    this.#say(`recovered #${this.state.seq} in ${ms} ms (${this.#snapshot === undefined ? "no snapshot" : `snapshot #${this.#snapshot.seq} + ${this.state.seq - this.#snapshot.seq} events`})`)
    this.#tail = await this.log.tail(this.state.seq + 1, (m) => this.#onTail(m))
    this.#timers.push(setInterval(() => this.#announce(), 1000))
    this.nc.subscribe(PRESENCE_ALL, { callback: (_e, msg) => this.#onPresence(msg.data) })
    this.#announce()
    void this.#watchConnection()
    this.#timers.push(setInterval(() => void this.#campaign(), 100))
    await this.#campaign()
    if (!this.#leading) this.#say(`standing by: another coordinator holds the leader lease`)
  }

  /** The newest snapshot that restores and verifies; returns the sequence to replay from. */
  async #loadSnapshot(): Promise<number> {
    const first = (await this.log.jsm.streams.info(EVENTS_STREAM)).state.first_seq
    if (this.#snapshots === undefined && first > 1) throw new Error(`the log starts at #${first} (compacted): a coordinator with --no-snapshots cannot recover it`)
    if (this.#snapshots === undefined) return 1
    const start = await recoveryStart(this.#snapshots, first, { say: (line) => this.#say(line) })
    if (start.snapshot === undefined) {
      // Compacted history with no snapshot that reaches it: starting empty would silently lose the jobs.
      if (first > 1) throw new Error(`the log starts at #${first} (compacted) but no usable snapshot reaches it; restore the snapshot bucket dtq-snapshots`)
      return 1
    }
    this.state = start.state
    this.#lastSnapshotSeq = start.fromSeq - 1
    this.#lastSnapshotAt = Date.now()
    this.#snapshot = { seq: start.snapshot.seq, name: start.snapshot.name, size: start.snapshot.size, at: start.snapshot.takenAt, how: "loaded" }
    return start.fromSeq
  }

  #record(): LeaderRecord {
    return { coordinatorId: this.id, host: hostname(), pid: process.pid, since: this.state.leaderSince ?? Date.now() }
  }

  /** A standby tries to take the lease; once it has it, it claims a term. */
  async #campaign(): Promise<void> {
    if (this.#leading || this.#claiming || this.#stopped || Date.now() < this.#nextCampaignAt) return
    this.#claiming = true
    try {
      if (!(await this.#lease.tryAcquire(this.#record()))) return
      this.takeover.leaseAt = Date.now()
      this.takeover.firstDecisionAt = 0
      // Renew from the moment the lease is ours: claiming a term can take a while during a fail-over.
      this.#startRenewing()
      await this.#claim()
      this.#campaignFailures = 0
      if (!this.#leading) await this.#letGo()
    } catch (error) {
      // Back off before the next campaign: whatever keeps a claim from landing must not turn into a loop.
      this.#campaignFailures++
      const delay = Math.min(CAMPAIGN_BACKOFF.maxMs, CAMPAIGN_BACKOFF.baseMs * 2 ** Math.min(this.#campaignFailures, 16))
      this.#nextCampaignAt = Date.now() + delay
      this.#say(`could not take over: ${(error as Error).message}; trying again in ${delay} ms`)
      await this.#letGo()
    } finally {
      this.#claiming = false
    }
  }

  /**
   * Starts a new term: CoordinatorElected with the next epoch, a compare-and-set on the term subject. A claim
   * that loses the race or is set aside is retried on a backoff Schedule (never in a tight loop), a bounded
   * number of times; then the lease is let go and the next campaign waits longer still (#campaignBackoff).
   */
  async #claim(): Promise<void> {
    await retryPromise(async () => {
      if (this.#stopped) return
      if (!(await this.#claimOnce())) throw new Error("the term claim was not applied")
    }, CLAIM_RETRY).catch((error: unknown) => {
      throw new Error(`could not claim a coordinator term: ${(error as Error).message}`)
    })
    if (!this.#stopped) this.#lead()
  }

  /** One claim; true once it is folded as the current term. */
  async #claimOnce(): Promise<boolean> {
    await this.#waitFolded(await this.log.lastSeq())
    const epoch = this.state.epoch + 1
    const event: DtqEvent = { type: "CoordinatorElected", ...this.#envelope(), epoch, host: hostname(), pid: process.pid }
    // Read from the stream, not from folding: a coordinator that started from a snapshot never saw old terms.
    const termSeq = await this.log.lastSeqOn(TERM_SUBJECT)
    try {
      const seq = await this.#append(event, { expectLastSubjectSeq: termSeq })
      this.#epoch = epoch
      await this.#waitFolded(seq)
      if (this.state.epoch === epoch && this.state.leaderId === this.id) return true
      this.#say(`the claim of epoch ${epoch} was not applied (${this.state.recentRejected.at(-1)?.reason ?? "another term landed first"}); retrying`)
      return false
    } catch (error) {
      if (!(error instanceof AppendRefused)) throw error
      // Another term was claimed meanwhile (by a leader whose lease had not expired): catch up, retry.
      return false
    }
  }

  /** Resolves once the fold has reached `seq`; rejects after `timeoutMs` (a claim must not hang on a stalled log). */
  #waitFolded(seq: number, timeoutMs = 10_000): Promise<void> {
    if (this.state.seq >= seq) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#caughtUp = undefined
        reject(new Error(`the log did not reach #${seq} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#caughtUp = {
        seq,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        }
      }
    })
  }

  #lead(): void {
    this.#leading = true
    this.#startGrace()
    this.#say(`leading as ${this.id}, epoch ${this.#epoch}, at seq ${this.state.seq}`)
    const beats = this.nc.subscribe(HEARTBEAT_ALL, {
      callback: (_error, msg) => this.#heartbeats.beat(msg.subject.slice(HEARTBEAT_ALL.length - 1), this.clock.now())
    })
    // Gradients fly by into memory, so a step rarely waits for a read from the tensor stream.
    this.#leaderSubscriptions.push(beats, this.tensors.watch("dtq.tensor.*.g.*"), ...serveControl(this))
    this.#leaderTimers = [setInterval(() => this.#tick(), this.#options.tickMs ?? 100)]
    this.#markDirty()
  }

  #startRenewing(): void {
    if (this.#renewTimer !== undefined) return
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(50, Math.floor(this.#lease.ttlMs / 4)))
  }

  /** One renewal at a time; a refused one ends this term at once. */
  async #renew(): Promise<void> {
    if (this.#renewing) return
    this.#renewing = true
    try {
      if (!(await this.#lease.renew(this.#record()))) {
        this.#stepDown("lost the leader lease")
        await this.#letGo()
      }
    } finally {
      this.#renewing = false
    }
  }

  /** Stops renewing and gives the lease up (if it is still ours), so that whoever is ready can lead. */
  async #letGo(): Promise<void> {
    if (this.#renewTimer !== undefined) clearInterval(this.#renewTimer)
    this.#renewTimer = undefined
    await this.#lease.release()
  }

  /** Stops deciding at once and goes back to standing by (still tailing the log, ready to lead again). */
  #stepDown(why: string): void {
    if (!this.#leading) return
    this.#leading = false
    void this.#letGo()
    for (const timer of this.#leaderTimers) clearInterval(timer)
    this.#leaderTimers = []
    if (this.#wake !== undefined) clearTimeout(this.#wake.timer)
    this.#wake = undefined
    for (const sub of this.#leaderSubscriptions.splice(0)) sub.unsubscribe()
    this.#say(`stopped deciding: ${why}; standing by`)
  }

  /** Nobody could beat while this coordinator (or the server) was away: leases and workers get fresh time. */
  #startGrace(): void {
    this.#graceSince = this.clock.now()
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

  #announce(): void {
    if (this.#stopped) return
    const presence: Presence = { id: this.id, leading: this.#leading, epoch: this.#epoch, appliedSeq: this.state.seq, host: hostname(), pid: process.pid }
    this.nc.publish(presenceSubject(this.id), JSON.stringify(presence))
  }

  #onPresence(data: Uint8Array): void {
    try {
      const p = JSON.parse(new TextDecoder().decode(data)) as Presence
      if (typeof p.id === "string" && p.id !== this.id) this.#peers.set(p.id, { ...p, seenAt: Date.now() })
    } catch {
      // not a presence message of ours
    }
  }

  #foldRaw(m: RawEvent): DtqEvent | undefined {
    const decoded = foldMessage(this.state, m, m.data)
    this.clock.observe(m.time, decoded.ok ? decoded.event.id : undefined)
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
      if (event.type === "WorkerJoined") this.#heartbeats.beat(event.workerId, this.clock.now())
      if (event.writer.role === "worker") this.#checkClock(event.writer.id)
      if (event.type === "CoordinatorElected") this.#checkTerm()
    }
    if (this.#caughtUp !== undefined && this.state.seq >= this.#caughtUp.seq) {
      const { resolve } = this.#caughtUp
      this.#caughtUp = undefined
      resolve()
    }
    this.#markDirty()
  }

  #checkTerm(): void {
    if (this.#epoch === 0 || this.state.epoch <= this.#epoch) return
    const wasLeading = this.#leading
    this.#stepDown(`${this.state.leaderId} leads epoch ${this.state.epoch}`)
    if (wasLeading) this.#options.onDeposed?.(this.state.leaderId, this.state.epoch)
  }

  /** Warns once when a worker's clock is beyond the skew bound (its work is unaffected: the fold uses stored times). */
  #checkClock(workerId: string): void {
    const offset = this.state.workers.get(workerId)?.clockOffsetMs
    if (isSkewed(offset)) {
      if (this.#skewWarned.has(workerId)) return
      this.#skewWarned.add(workerId)
      this.#say(`warning: worker ${workerId}'s clock is ${offset as number > 0 ? "+" : ""}${offset} ms off the stream's; its work is unaffected (times come from the stream), but fix its clock (NTP)`)
    } else if (offset !== undefined && this.#skewWarned.delete(workerId)) this.#say(`worker ${workerId}'s clock is back within bounds (${offset} ms off the stream's)`)
  }

  /** True while this process may decide: it leads and its lease cannot have expired (a paused process notices here). */
  #mayDecide(): boolean {
    if (!this.#leading || this.#stopped) return false
    // The leader lease is timed on this host's own clock, as LeaderLease renews it.
    const now = Date.now()
    if (this.#lease.holds(now)) return true
    this.#stepDown(`the leader lease may have expired (last renewed ${now - this.#lease.renewedAt} ms ago)`)
    return false
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
    if (!this.#mayDecide()) return
    const now = this.clock.now()
    // A coordinator that was itself stalled (a long computation, a GC pause) has not read the heartbeats
    // waiting in its socket: silence it did not observe is not evidence. Everyone gets fresh grace.
    const tickMs = this.#options.tickMs ?? 100
    if (this.#lastTickAt > 0 && now - this.#lastTickAt > Math.max(500, 5 * tickMs)) this.#startGrace()
    this.#lastTickAt = now
    // In this order, each seeing the decisions before it as in flight: a lost worker's leases are
    // reclaimed by WorkerLost alone, and no copy goes to a worker that is being declared lost.
    for (const draft of lostWorkers(this.state, this.#heartbeats, this.#inFlight, now, this.#options.workerTimeoutMs ?? 5000)) this.#decide(draft)
    for (const draft of expiredAttempts(this.state, this.#inFlight, now, this.#graceSince)) this.#decide(draft)
    for (const draft of speculativeCopies(this.state, this.#inFlight, now)) this.#decide(draft)
    if (now - this.#lastRetentionAt >= RETENTION_CHECK_MS) {
      this.#lastRetentionAt = now
      for (const draft of expiredJobs(this.state, this.#inFlight, now, this.retention)) this.#decide(draft)
    }
    this.#schedule()
    this.#maybeSnapshot(Date.now())
  }

  #schedule(): void {
    if (!this.#mayDecide()) return
    const now = this.clock.now()
    const wake = { at: Infinity }
    for (const draft of plan(this.state, this.#inFlight, now, this.#schedulerOptions, wake)) this.#decide(draft)
    this.#wakeAt(wake.at, now)
    this.#trainer.poll(this.state, now)
    this.#predictions.poll(this.state)
  }

  /** A training decision: appended at once (the trainer waits for it to come back through the fold). */
  async #decideTraining(draft: TrainingDraft | PredictionsDraft): Promise<boolean> {
    if (!this.#mayDecide()) return false
    const event = { ...draft, ...this.#envelope(), epoch: this.#epoch } as DtqEvent
    await this.#append(event)
    return true
  }

  /**
   * Appends an own event, noting when it was sent (read back, it bounds the stream clock's estimate), and
   * reports a full stream loudly (at most every 5 s), clearing the report once a write lands.
   */
  async #append(event: DtqEvent, options?: { expectLastSubjectSeq?: number }): Promise<number> {
    this.clock.sent(event.id)
    try {
      const seq = await this.log.append(event, options)
      if (this.streamFull !== undefined) {
        this.streamFull = undefined
        this.#say(`the event stream accepts events again`)
      }
      return seq
    } catch (error) {
      if (error instanceof StreamFull) {
        const now = Date.now()
        this.streamFull = { at: now, message: error.message }
        if (now - this.#fullReportedAt >= FULL_REPORT_MS) {
          this.#fullReportedAt = now
          this.#options.log?.(`[coordinator ${this.id}] STREAM FULL: ${error.message}`)
        }
      }
      throw error
    }
  }

  /** A delayed job or a retry comes due at `at`: plan again right then, not at the next tick. */
  #wakeAt(at: number, now: number): void {
    // Far-off times are left to the tick (a timer cannot wait longer than 2^31 ms anyway).
    if (!Number.isFinite(at) || at - now > 60_000) return
    if (this.#wake !== undefined && this.#wake.at <= at) return
    if (this.#wake !== undefined) clearTimeout(this.#wake.timer)
    const timer = setTimeout(() => {
      this.#wake = undefined
      this.#schedule()
    }, Math.max(0, at - now))
    this.#wake = { at, timer }
  }

  #decide(draft: Draft): void {
    const event = { ...draft, ...this.#envelope(), epoch: this.#epoch } as DtqEvent
    if (this.takeover.firstDecisionAt === 0) {
      const at = Date.now() // the fail-over benchmark measures on this host's clock, like leaseAt
      this.takeover.firstDecisionAt = at
      this.#say(`first decision of epoch ${this.#epoch} at ${at} (${at - this.takeover.leaseAt} ms after winning the lease)`)
    }
    const release = this.#inFlight.hold(draft)
    this.#own.set(event.id, release)
    this.#append(event).catch((error: Error) => {
      if (!this.#own.has(event.id)) return
      this.#own.delete(event.id)
      release()
      // A full stream was reported by #append; the decision is made again once there is room.
      if (!this.#stopped && !(error instanceof StreamFull)) this.#say(`could not record ${event.type}: ${error.message}`)
    })
  }


  #maybeSnapshot(now: number): void {
    if (this.#snapshots === undefined || this.#snapshotting || this.state.seq === this.#lastSnapshotSeq) return
    const every = this.#options.snapshotEvery ?? 20_000
    const interval = this.#options.snapshotIntervalMs ?? 60_000
    if (this.state.seq - this.#lastSnapshotSeq < every && now - this.#lastSnapshotAt < interval) return
    void this.snapshotNow().then(() => this.#maybeCompact())
  }

  async #maybeCompact(): Promise<void> {
    if (this.#options.noCompaction === true) return
    const keep = this.#options.compactKeepEvents ?? DEFAULT_COMPACT_KEEP_EVENTS
    const info = await this.log.jsm.streams.info(EVENTS_STREAM).catch(() => undefined)
    if (info === undefined || info.state.messages <= keep * 1.1) return
    const result = await this.compact(keep, `automatic: more than ${keep} events`).catch((error: Error) => ({ compacted: false as const, reason: error.message }))
    if (!result.compacted) this.#say(`automatic compaction skipped: ${result.reason}`)
  }

  /**
   * Compaction: takes a snapshot, records LogCompacted, then purges the events that the snapshot covers,
   * that are older than the newest `keepEvents`, and that no unfinished job needs (its history from its
   * JobSubmitted on stays whole). Snapshots older than the purge point are deleted: none is ever needed again.
   */
  async compact(keepEvents: number, reason: string): Promise<CompactResult> {
    if (!this.#leading) return { compacted: false, reason: "only the leader compacts" }
    if (this.#snapshots === undefined) return { compacted: false, reason: "this coordinator runs without snapshots: nothing could replace the purged events" }
    const snapshot = await this.snapshotNow()
    if (snapshot === undefined) return { compacted: false, reason: "no snapshot could be written now (one is being written); try again" }
    const info = await this.log.jsm.streams.info(EVENTS_STREAM)
    let through = Math.min(snapshot.seq, info.state.last_seq - keepEvents)
    for (const jobId of this.state.activeJobs) {
      const job = this.state.jobs.get(jobId)
      if (job !== undefined) through = Math.min(through, job.submittedSeq - 1)
    }
    if (through < info.state.first_seq) {
      return { compacted: false, reason: `nothing to purge: the log starts at #${info.state.first_seq}, and the newest ${keepEvents} events, unfinished jobs' histories and events after snapshot #${snapshot.seq} stay` }
    }
    if (!this.#mayDecide()) return { compacted: false, reason: "no longer leading" }
    await this.#append({ type: "LogCompacted", ...this.#envelope(), epoch: this.#epoch, throughSeq: through, snapshotSeq: snapshot.seq, reason })
    const purged = await this.log.jsm.streams.purge(EVENTS_STREAM, { seq: through + 1 })
    await this.#snapshots.deleteOlderThan(through)
    this.#say(`compacted the log: purged ${purged.purged} events through #${through}, behind snapshot #${snapshot.seq} (${reason})`)
    return { compacted: true, throughSeq: through, purged: purged.purged, firstSeq: through + 1, snapshotSeq: snapshot.seq }
  }

  /** Writes a snapshot of the current state (the leader does this every N events or T seconds). */
  async snapshotNow(): Promise<StoredSnapshot | undefined> {
    if (this.#snapshots === undefined || this.#snapshotting) return undefined
    this.#snapshotting = true
    try {
      const { header, bytes } = takeSnapshot(this.state, Date.now())
      this.#lastSnapshotSeq = header.seq
      this.#lastSnapshotAt = Date.now()
      const stored = await this.#snapshots.put(header, bytes)
      this.#snapshot = { seq: stored.seq, name: stored.name, size: stored.size, at: header.takenAt, how: "written" }
      await this.#snapshots.prune(SNAPSHOTS_KEPT)
      return stored
    } catch (error) {
      this.#say(`could not write a snapshot: ${(error as Error).message}`)
      return undefined
    } finally {
      this.#snapshotting = false
    }
  }

  /** `ts` is this host's wall clock, for display and to measure its skew; decisions are timed by the stream. */
  #envelope() {
    return { id: newEventId(), v: 1 as const, ts: Date.now(), writer: { role: "coordinator" as const, id: this.id } }
  }

  #say(line: string): void {
    this.#options.log?.(`[coordinator ${this.id}] ${line}`)
  }

  /** Stops; a leader gives its lease up at once so that a standby takes over without waiting for the TTL. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stepDown("stopping")
    this.#stopped = true
    for (const timer of this.#timers) clearInterval(timer)
    await this.#letGo()
    await this.#tail?.stop()
    await this.nc.drain().catch(() => undefined)
  }
}
