// Snapshots in the JetStream Object Store (chunked, so a state of any size fits), newest first.
import { Objm, type ObjectStore } from "@nats-io/obj"
import type { NatsConnection } from "@nats-io/transport-node"
import type { SnapshotHeader } from "../projections/snapshot.ts"

export const SNAPSHOT_BUCKET = "dtq-snapshots"

export type StoredSnapshot = { readonly name: string; readonly seq: number; readonly size: number; readonly digest: string }

export const snapshotName = (seq: number) => `snapshot-${String(seq).padStart(15, "0")}`

export class SnapshotStore {
  readonly #store: ObjectStore

  private constructor(store: ObjectStore) {
    this.#store = store
  }

  static async open(nc: NatsConnection, options: { replicas?: number } = {}): Promise<SnapshotStore> {
    return new SnapshotStore(await new Objm(nc).create(SNAPSHOT_BUCKET, { replicas: options.replicas ?? 1 }))
  }

  async put(header: SnapshotHeader, bytes: Uint8Array): Promise<StoredSnapshot> {
    const name = snapshotName(header.seq)
    const info = await this.#store.putBlob(
      { name, metadata: { seq: String(header.seq), digest: header.digest, version: String(header.version) } },
      bytes
    )
    return { name, seq: header.seq, size: info.size, digest: header.digest }
  }

  /** Every stored snapshot, newest first. */
  async list(): Promise<StoredSnapshot[]> {
    const infos = await this.#store.list()
    return infos
      .filter((i) => !i.deleted && i.name.startsWith("snapshot-"))
      .map((i) => ({ name: i.name, seq: Number(i.metadata?.seq ?? i.name.slice(9)), size: i.size, digest: i.metadata?.digest ?? "" }))
      .sort((a, b) => b.seq - a.seq)
  }

  async read(name: string): Promise<Uint8Array | null> {
    return this.#store.getBlob(name)
  }

  /** Deletes the snapshots of sequences below `seq`: after a compaction through `seq` they can never be used. */
  async deleteOlderThan(seq: number): Promise<void> {
    for (const old of await this.list()) if (old.seq < seq) await this.#store.delete(old.name).catch(() => undefined)
  }

  /** Keeps the newest `keep` snapshots, deletes the rest. */
  async prune(keep: number): Promise<void> {
    for (const old of (await this.list()).slice(keep)) await this.#store.delete(old.name).catch(() => undefined)
  }
}
