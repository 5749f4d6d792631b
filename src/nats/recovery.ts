// Where a rebuild of the state starts: the newest snapshot that restores, verifies and reaches the log's
// first sequence (and, for a replay up to a point, does not pass it); else the log's start. Shared by the
// coordinator's recovery and by `dtq replay`, so both start from the same place after a compaction.
import { restoreSnapshot } from "../projections/snapshot.ts"
import { emptyState, type ClusterState } from "../projections/state.ts"
import type { SnapshotStore, StoredSnapshot } from "./snapshot-store.ts"

export type RecoveryStart = {
  readonly state: ClusterState
  /** Replay from here on. */
  readonly fromSeq: number
  readonly snapshot: (StoredSnapshot & { readonly takenAt: number }) | undefined
}

export const recoveryStart = async (
  snapshots: SnapshotStore | undefined,
  firstSeq: number,
  options: { readonly untilSeq?: number; readonly say?: (line: string) => void } = {}
): Promise<RecoveryStart> => {
  const fromLog: RecoveryStart = { state: emptyState(), fromSeq: 1, snapshot: undefined }
  if (snapshots === undefined) return fromLog
  for (const stored of await snapshots.list()) {
    if (options.untilSeq !== undefined && stored.seq > options.untilSeq) continue
    const bytes = await snapshots.read(stored.name).catch(() => null)
    const restored = bytes === null ? { ok: false as const, reason: "unreadable" } : restoreSnapshot(bytes)
    if (!restored.ok) {
      options.say?.(`skipped snapshot ${stored.name}: ${restored.reason}`)
      continue
    }
    // A snapshot older than the log's start would leave a gap: only one that reaches the log is usable.
    if (restored.header.seq + 1 < firstSeq) {
      options.say?.(`skipped snapshot ${stored.name}: it covers #${restored.header.seq}, the log starts at #${firstSeq}`)
      continue
    }
    return { state: restored.state, fromSeq: restored.header.seq + 1, snapshot: { ...stored, takenAt: restored.header.takenAt } }
  }
  return fromLog
}
