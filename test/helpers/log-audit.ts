// Reading a job's story back from the log: which attempts were leased, which results came in.
import { decodeEvent } from "../../src/domain/event-codec.ts"
import type { DtqEvent } from "../../src/domain/events.ts"
import type { Client } from "../../src/producer/client.ts"

export type Audit = {
  readonly events: DtqEvent[]
  /** Per task index: the attempts leased (in order) and the results reported (attempt numbers). */
  readonly leases: Map<number, number[]>
  readonly results: Map<number, number[]>
  readonly speculativeLeases: number
}

/** Every decodable event in the log, in order. */
export const logEvents = async (client: Client): Promise<DtqEvent[]> => {
  const events: DtqEvent[] = []
  await client.log.readRange(1, undefined, (m) => {
    const d = decodeEvent(m.data)
    if (d.ok) events.push(d.event)
  })
  return events
}

export const auditJob = async (client: Client, jobId: string): Promise<Audit> => {
  const events = await logEvents(client)
  const leases = new Map<number, number[]>()
  const results = new Map<number, number[]>()
  let speculativeLeases = 0
  const push = (map: Map<number, number[]>, index: number, attempt: number) => map.set(index, [...(map.get(index) ?? []), attempt])
  for (const e of events) {
    if (e.type === "TaskLeased") {
      for (const l of e.leases) {
        if (l.jobId !== jobId) continue
        push(leases, l.index, l.attempt)
        if (l.speculative === true) speculativeLeases++
      }
    } else if (e.type === "TaskCompleted") {
      for (const r of e.results) if (r.jobId === jobId) push(results, r.index, r.attempt)
    }
  }
  // Events about other jobs are left out; batch events (no top-level jobId) stay.
  return { events: events.filter((e) => !("jobId" in e) || e.jobId === jobId), leases, results, speculativeLeases }
}
