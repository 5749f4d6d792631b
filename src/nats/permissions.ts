// Per-role NATS permissions (docs/security.md): the least each role needs, as nats-server config text.
// Roles: coordinator (decisions, the leader lease, snapshots, models), worker (its own facts only, on
// subjects carrying its id), producer (requests, data sets, questions to the leader) and observer (reads).
// Works on nats-server 2.9: one user per worker, since 2.9 has no permission templates outside JWT accounts.
import { EVENT_TYPES, type EventType, type Role } from "../domain/events.ts"
import { eventTypeSubjectOf } from "../domain/subject-scheme.ts"
import { DATASET_BUCKET } from "./dataset-store.ts"
import { LEADER_BUCKET } from "./leader-lease.ts"
import { MODEL_BUCKET } from "./model-store.ts"
import { PREDICTION_BUCKET } from "./prediction-store.ts"
import { SNAPSHOT_BUCKET } from "./snapshot-store.ts"
import { CHAT_SUBJECT, EVENTS_STREAM } from "./subjects.ts"
import { TENSOR_STREAM } from "./tensor-store.ts"

/** Who writes each event type: the compiler checks that every type has its role. */
export const WRITER_OF: Readonly<Record<EventType, Role>> = {
  JobSubmitted: "producer",
  JobCancelRequested: "producer",
  BatchSizeRequested: "producer",
  WorkerJoined: "worker",
  WorkerDraining: "worker",
  WorkerLeft: "worker",
  ProgressBeat: "worker",
  TaskCompleted: "worker",
  TaskFailed: "worker",
  GradientReported: "worker",
  CoordinatorStarted: "coordinator",
  CoordinatorElected: "coordinator",
  TasksScheduled: "coordinator",
  JobRejected: "coordinator",
  TaskLeased: "coordinator",
  RetryScheduled: "coordinator",
  TaskReclaimed: "coordinator",
  AttemptAborted: "coordinator",
  JobCompleted: "coordinator",
  JobFailed: "coordinator",
  JobCancelled: "coordinator",
  WorkerLost: "coordinator",
  ModelUpdated: "coordinator",
  GradientDropped: "coordinator",
  EpochCompleted: "coordinator",
  EarlyStopped: "coordinator",
  TrainingFinished: "coordinator",
  BatchSizeChanged: "coordinator",
  PredictionsStored: "coordinator",
  SharesAllocated: "coordinator",
  JobsExpired: "coordinator",
  LogCompacted: "coordinator"
}

export const typesWrittenBy = (role: Role): EventType[] => EVENT_TYPES.filter((t) => WRITER_OF[t] === role)

export type Permissions = {
  readonly publish: ReadonlyArray<string>
  readonly subscribe: ReadonlyArray<string>
  /** May answer requests it received (publish to their reply subjects only). */
  readonly allowResponses: boolean
}

export type SecurityRole = Role | "observer"

/** Reading streams: stream and consumer info, ordered consumers (created, fetched from, deleted), direct gets. */
const JS_READ = [
  "$JS.API.INFO",
  "$JS.API.STREAM.INFO.*",
  "$JS.API.STREAM.NAMES",
  "$JS.API.STREAM.LIST",
  "$JS.API.STREAM.MSG.GET.*",
  "$JS.API.DIRECT.GET.>",
  "$JS.API.CONSUMER.CREATE.>",
  "$JS.API.CONSUMER.INFO.>",
  "$JS.API.CONSUMER.MSG.NEXT.>",
  "$JS.API.CONSUMER.DELETE.>",
  "$JS.FC.>"
]
/** Replies (JetStream API answers, pulled messages, request answers) come to the client's inbox. */
const INBOX = "_INBOX.>"

/** Creating, updating and purging a stream (an Object Store bucket is the stream OBJ_<bucket>). */
const manage = (stream: string) => [`$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`, `$JS.API.STREAM.PURGE.${stream}`]
const objectWrite = (bucket: string) => [`$O.${bucket}.>`, ...manage(`OBJ_${bucket}`), `$JS.API.STREAM.MSG.DELETE.OBJ_${bucket}`]

/** The permissions of one role; a worker's are bound to its id. */
export const rolePermissions = (role: SecurityRole, workerId?: string): Permissions => {
  switch (role) {
    case "coordinator":
      return {
        publish: [
          ...typesWrittenBy("coordinator").map((t) => eventTypeSubjectOf(t)),
          "dtq.coord.presence.*",
          "dtq.tensor.*.m.*",
          "dtq.tensor.*.b.*",
          "dtq.ctl.*", // dtq info asks the leader; a standby asks too
          CHAT_SUBJECT,
          ...manage(EVENTS_STREAM),
          ...manage(TENSOR_STREAM),
          `$JS.API.STREAM.MSG.DELETE.${TENSOR_STREAM}`,
          `$KV.${LEADER_BUCKET}.>`,
          ...manage(`KV_${LEADER_BUCKET}`),
          ...[SNAPSHOT_BUCKET, MODEL_BUCKET, PREDICTION_BUCKET, DATASET_BUCKET].flatMap(objectWrite),
          ...JS_READ
        ],
        subscribe: ["dtq.>", INBOX],
        allowResponses: true
      }
    case "worker": {
      if (workerId === undefined) throw new Error("a worker's permissions need its id")
      return {
        publish: [
          ...typesWrittenBy("worker").map((t) => eventTypeSubjectOf(t, workerId)),
          `dtq.hb.${workerId}`,
          `dtq.worker.${workerId}.ping`, // refusing a second worker with the same id
          "dtq.tensor.*.g.*", // content-addressed: the gradient's event, on this worker's subject, names the digest
          "dtq.ctl.train-state",
          ...JS_READ
        ],
        subscribe: [
          ...["TaskLeased", "TaskReclaimed", "AttemptAborted", "WorkerLost"].map((t) => `dtq.ev.${t}.${workerId}`),
          ...["JobCompleted", "JobFailed", "JobCancelled", "ModelUpdated", "TrainingFinished"].map((t) => `dtq.ev.${t}.*`),
          `dtq.worker.${workerId}.ping`,
          "dtq.task.*.check",
          "dtq.tensor.>",
          CHAT_SUBJECT,
          INBOX
        ],
        allowResponses: true
      }
    }
    case "producer":
      return {
        publish: [
          ...typesWrittenBy("producer").map((t) => eventTypeSubjectOf(t)),
          "dtq.ctl.*",
          "dtq.task.*.check",
          CHAT_SUBJECT,
          ...objectWrite(DATASET_BUCKET),
          ...JS_READ
        ],
        subscribe: ["dtq.ev.>", "dtq.tensor.>", CHAT_SUBJECT, INBOX],
        allowResponses: false
      }
    case "observer":
      return { publish: ["dtq.ctl.*", ...JS_READ], subscribe: ["dtq.ev.>", "dtq.hb.*", CHAT_SUBJECT, INBOX], allowResponses: false }
  }
}

const quoted = (subjects: ReadonlyArray<string>) => `[${subjects.map((s) => JSON.stringify(s)).join(", ")}]`

/** One user of the generated authorization block. */
export type ConfigUser = { readonly name: string; readonly nkey: string; readonly role: SecurityRole; readonly workerId?: string }

/** The nats-server `authorization` block for these users (public nkeys only: the file holds no secret). */
export const authorizationConfig = (users: ReadonlyArray<ConfigUser>): string => {
  const lines = ["authorization {", "  users: ["]
  for (const user of users) {
    const p = rolePermissions(user.role, user.workerId)
    lines.push(
      `    # ${user.name} (${user.role})`,
      `    { nkey: ${user.nkey}, permissions: {`,
      `      publish: { allow: ${quoted(p.publish)} }`,
      `      subscribe: { allow: ${quoted(p.subscribe)} }`,
      ...(p.allowResponses ? ["      allow_responses: true"] : []),
      `    } }`
    )
  }
  lines.push("  ]", "}")
  return lines.join("\n")
}
