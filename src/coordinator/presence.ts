// Coordinators announce themselves once a second on core NATS (an observation, not an event), so that
// the leader can say who stands by and how far each has applied the log.
export type Presence = {
  readonly id: string
  readonly leading: boolean
  readonly epoch: number
  readonly appliedSeq: number
  readonly host: string
  readonly pid: number
}

export const PRESENCE_ALL = "dtq.coord.presence.*"
export const presenceSubject = (coordinatorId: string): string => `dtq.coord.presence.${coordinatorId}`
