// Identity bound to subjects: an event is folded only if the subject it was stored on, its writer and its
// payload agree. With per-role NATS permissions (docs/security.md) a client can publish only on the subjects
// of its own role and id, so this check turns the server's permissions into the fold's proof of who wrote
// what: a worker's fact must be on its own subject and written by itself; a decision on a decision's subject.
import type { DtqEvent } from "../domain/events.ts"
import { eventSubjectOf, legacySubjectsOf } from "../domain/subject-scheme.ts"

/** Why an event's subject, writer and payload disagree; undefined when they agree. */
export const identityProblem = (event: DtqEvent, subject: string): string | undefined => {
  if (event.writer.role === "worker" && "workerId" in event && event.writer.id !== event.workerId) {
    return `${event.type} names worker ${event.workerId} but was written by ${event.writer.id}`
  }
  const expected = eventSubjectOf(event)
  if (subject === expected || legacySubjectsOf(event).includes(subject)) return undefined
  return `${event.type} of ${event.writer.role} ${event.writer.id} arrived on ${subject.slice(0, 200)}, not on its own subject ${expected}`
}
