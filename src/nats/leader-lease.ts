// The leader lease: one key in a JetStream KV bucket whose TTL expires a leader that stops renewing.
// Acquire = create (fails while the key exists); renew = update on the revision we hold (fails if anyone
// else wrote it). It says who may decide; the epoch in the log (CoordinatorElected) fences what they wrote.
import { Kvm, type KV } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"

export const LEADER_BUCKET = "dtq-leader"
const KEY = "leader"

export type LeaderRecord = { readonly coordinatorId: string; readonly host: string; readonly pid: number; readonly since: number }

export type LeaderLeaseOptions = {
  /** A leader that does not renew for this long loses the lease. Default 1000 ms. */
  readonly ttlMs?: number
  /** Replicas of the bucket when it is created (3 on a three-server cluster). */
  readonly replicas?: number
}

const encoder = new TextEncoder()

export class LeaderLease {
  readonly ttlMs: number
  readonly #kv: KV
  #revision = 0
  #renewedAt = 0

  private constructor(kv: KV, ttlMs: number) {
    this.#kv = kv
    this.ttlMs = ttlMs
  }

  static async open(nc: NatsConnection, options: LeaderLeaseOptions = {}): Promise<LeaderLease> {
    const ttlMs = options.ttlMs ?? 1000
    const kv = await new Kvm(nc).create(LEADER_BUCKET, { ttl: ttlMs, history: 1, replicas: options.replicas ?? 1 })
    return new LeaderLease(kv, ttlMs)
  }

  /** When the lease was last acquired or renewed (0 when not held). */
  get renewedAt(): number {
    return this.#renewedAt
  }

  /** Whether the lease is held and cannot have expired yet (a paused process must not trust an old renewal). */
  holds(now: number): boolean {
    return this.#revision > 0 && now - this.#renewedAt < this.ttlMs
  }

  /** Takes the lease if nobody holds it; true when this process now leads. */
  async tryAcquire(record: LeaderRecord): Promise<boolean> {
    const started = Date.now()
    try {
      this.#revision = await this.#kv.create(KEY, encoder.encode(JSON.stringify(record)))
      this.#renewedAt = started
      return true
    } catch {
      this.#revision = 0
      return false
    }
  }

  /** Renews the lease we hold; false when it was lost (expired and taken, or never held). */
  async renew(record: LeaderRecord): Promise<boolean> {
    if (this.#revision === 0) return false
    const started = Date.now()
    try {
      this.#revision = await this.#kv.update(KEY, encoder.encode(JSON.stringify(record)), this.#revision)
      this.#renewedAt = started
      return true
    } catch {
      this.#revision = 0
      return false
    }
  }

  /** Gives the lease up at once (a clean stop), so a standby need not wait for the TTL. */
  async release(): Promise<void> {
    if (this.#revision === 0) return
    const revision = this.#revision
    this.#revision = 0
    await this.#kv.delete(KEY, { previousSeq: revision }).catch(() => undefined)
  }

  /** Who holds the lease now, if anyone. */
  async current(): Promise<LeaderRecord | undefined> {
    const entry = await this.#kv.get(KEY).catch(() => null)
    if (entry === null || entry.operation !== "PUT") return undefined
    try {
      return JSON.parse(new TextDecoder().decode(entry.value)) as LeaderRecord
    } catch {
      return undefined
    }
  }
}
