// The subject scheme (docs/events.md). Events: `dtq.ev.<Type>.<key>`, where key is the worker or job the
// event concerns, so `nats sub 'dtq.ev.*.j-abc'` follows one job and a worker receives its leases on
// `dtq.ev.TaskLeased.<workerId>`. Everything outside `dtq.ev.>` is core NATS and never stored.
import { eventSubjectOf, eventTypeSubjectOf } from "../domain/subject-scheme.ts"

export const EVENTS_STREAM = "DTQ_EVENTS"
export const EVENTS_SUBJECTS = "dtq.ev.>"

export const eventSubject = eventSubjectOf
export const eventTypeSubject = eventTypeSubjectOf
export const leaseSubject = (workerId: string): string => `dtq.ev.TaskLeased.${workerId}`

/** Request/reply to the leading coordinator: info, jobs, job, workers. */
export const controlSubject = (verb: string): string => `dtq.ctl.${verb}`
/** A worker's liveness beat (an observation, not an event). */
export const heartbeatSubject = (workerId: string): string => `dtq.hb.${workerId}`
export const HEARTBEAT_ALL = "dtq.hb.*"
/** Answered by a live worker; used to refuse a second worker with the same id. */
export const workerPingSubject = (workerId: string): string => `dtq.worker.${workerId}.ping`
/** Answered by one live worker that runs task `name`: checks an input against its Schema, gives its defaults. */
export const taskCheckSubject = (name: string): string => `dtq.task.${name}.check`
export const TASK_CHECK_QUEUE = "dtq-task-check"
/** Broadcast text that every producer prompt and worker prints. */
export const CHAT_SUBJECT = "dtq.chat"

/** Event headers: readable in `nats stream view` without decoding the payload. */
export const HEADER_TYPE = "Dtq-Type"
export const HEADER_WRITER = "Dtq-Writer"
