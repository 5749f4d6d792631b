// The second entry point, `dtq/cluster`: what runs a cluster rather than uses one. The coordinator, the
// launcher of a local nats-server (and of a three-server NATS cluster), a whole local cluster of child
// processes as `dtq up` runs it, the event log every role reads and writes, and the loader of task modules
// (`dtq worker --tasks`). Applications need only "dtq".
//
//   import { Coordinator, startLocalServer } from "dtq/cluster"
//   const server = await startLocalServer({ storeDir: ".dtq/nats" })
//   const coordinator = await Coordinator.start({ url: server.url })
import type * as Events from "./domain/events.ts"

export {
  /** The coordinator role: leads (or stands by), folds the log, leases tasks, retries, snapshots. `Coordinator.start({ url })`. */
  Coordinator
} from "./coordinator/coordinator.ts"
export type {
  /** How a Coordinator runs: the NATS URL, its id, worker timeout, leader-lease TTL, snapshots, replicas, sharing. */
  CoordinatorOptions,
  /** The last snapshot a coordinator wrote or loaded: the stream sequence it covers, its name, size and time. */
  SnapshotInfo
} from "./coordinator/coordinator.ts"

export {
  /** Finds the nats-server binary: $DTQ_NATS_SERVER, then PATH, then the usual sbin folders. */
  findNatsServer,
  /** A TCP port that was free a moment ago on 127.0.0.1. */
  freePort,
  /** Starts a nats-server with JetStream on this machine and resolves once it accepts connections. */
  startLocalServer
} from "./nats/local-server.ts"
export type {
  /** A running local nats-server: its URL, port, store folder, monitoring URL, and `stop()`. */
  LocalServer,
  /** Where and how to start a local nats-server: port, monitoring port, store folder, cluster routes, log file. */
  LocalServerOptions
} from "./nats/local-server.ts"
export {
  /** Starts N nats-servers on this machine as one NATS cluster (streams with N replicas), as `dtq up --nats-cluster 3`. */
  startLocalNatsCluster
} from "./nats/local-nats-cluster.ts"
export type {
  /** A running local NATS cluster: its servers, the comma-separated URL clients fail over between, and `stop()`. */
  LocalNatsCluster
} from "./nats/local-nats-cluster.ts"
export {
  /** A whole cluster of child processes, as `dtq up` runs it: NATS, a coordinator (and standbys), N workers. */
  LocalCluster
} from "./cli/local-cluster.ts"
export type {
  /** How a LocalCluster runs: workers, slots, store folder, port, NATS cluster size, standbys, extra role flags. */
  LocalClusterOptions
} from "./cli/local-cluster.ts"

export {
  /** An append the log refused for good (an event over the size limit, a failed expected-sequence check). */
  AppendRefused,
  /** The event log (the JetStream stream DTQ_EVENTS): append events, read ranges, tail it. `EventLog.open(nc)`. */
  EventLog
} from "./nats/event-log.ts"
export type {
  /** One stored message of the log, undecoded: its stream sequence, subject, bytes and time. */
  RawEvent,
  /** A running tail of the log: `stop()` it; `done` settles when it has stopped. */
  Tail
} from "./nats/event-log.ts"
export {
  /** Decodes one stored event (JSON, then its Schema): `{ ok: true, event }`, or `{ ok: false, reason }` naming what is wrong. */
  decodeEvent,
  /** Encodes an event as the log stores it (UTF-8 JSON). */
  encodeEvent
} from "./domain/event-codec.ts"
/** Any event of the log (docs/events.md), a union discriminated by `type`. */
export type DtqEvent = Events.DtqEvent
/** The name of an event type: "JobSubmitted", "TaskLeased", ... */
export type EventType = Events.EventType
/** The event of one type: `EventOf<"TaskCompleted">`. */
export type EventOf<T extends EventType> = Events.EventOf<T>
export {
  /** The name of the JetStream stream that holds the log. */
  EVENTS_STREAM,
  /** The subjects the log's stream captures (`dtq.ev.>`). */
  EVENTS_SUBJECTS
} from "./nats/subjects.ts"
export {
  /** nats-server is not installed or could not be started. */
  LocalServerError,
  /** The server is reachable but its JetStream setup does not fit dtq (no JetStream, an incompatible stream). */
  StreamSetupError
} from "./nats/errors.ts"

export {
  /** Loads a task module (JavaScript, or TypeScript on a Node that strips types) for a worker, as `dtq worker --tasks`. */
  loadTaskModule,
  /** A task module that cannot be used, with the reason. */
  TaskModuleError
} from "./tasks/load.ts"
export type {
  /** A task a worker can run: its name, its handler over wire values, and its definition when it has Schemas. */
  LoadedTask
} from "./tasks/load.ts"
