// The subject of each event, as a pure function (the NATS edge, src/nats/subjects.ts, and the fold share it).
// `dtq.ev.<Type>.<key>`: the key is the worker an event concerns (so a worker's facts carry its own id and
// per-worker permissions can bind them), the job, or a fixed key (the term, the share allocation).
import { routingKey, type DtqEvent, type EventType } from "./events.ts"

export const EVENT_SUBJECT_PREFIX = "dtq.ev."

export const eventSubjectOf = (event: DtqEvent): string => `${EVENT_SUBJECT_PREFIX}${event.type}.${routingKey(event)}`

export const eventTypeSubjectOf = (type: EventType, key = "*"): string => `${EVENT_SUBJECT_PREFIX}${type}.${key}`

/**
 * Subjects earlier releases used for an event that has since moved, still accepted so old logs replay:
 * before release 0.2 a GradientReported went on its job's subject (now on its worker's).
 */
export const legacySubjectsOf = (event: DtqEvent): ReadonlyArray<string> =>
  event.type === "GradientReported" ? [eventTypeSubjectOf(event.type, event.jobId)] : []
