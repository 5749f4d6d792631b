// The public face of the dtq package (`import ... from "dtq"`): what an application needs to define tasks,
// run workers, and submit and await tasks with a typed client. What runs a cluster (the coordinator, the
// local nats-server launcher, the event log) is the second entry point, `dtq/cluster` (src/cluster.ts).
//
//   import { Client, defineTask, Schema } from "dtq"
//   export const wordCount = defineTask({ name: "word-count", input: Schema.Struct({ text: Schema.String }),
//     output: Schema.Struct({ words: Schema.Number }), handler: ({ text }) => ({ words: text.split(/\s+/).length }) })
//   const client = await Client.connect("nats://127.0.0.1:4222")
//   const { words } = await client.submit(wordCount, { text: "to be or not" }, { timeout: 5000 })
export {
  /** effect's Schema module (the one dtq uses, JIT-compiled): describe a task's input and output with it. */
  Schema
} from "./domain/schema.ts"

export {
  /** Defines a task: a name, input and output Schemas, a handler and defaults; throws when the name is unusable. */
  defineTask,
  /** Whether a value is a task definition made with defineTask (what a worker accepts from a task module). */
  isTaskDefinition
} from "./tasks/define.ts"
export type {
  /** Any task definition, whatever its types (what a worker loads). */
  AnyTaskDefinition,
  /** The decoded input type of a task definition: `InputOf<typeof myTask>`. */
  InputOf,
  /** The decoded output type of a task definition: what `client.submit` resolves with. */
  OutputOf,
  /** How a task runs unless a submission says otherwise: attempts, backoff, timeout, priority. */
  TaskDefaults,
  /** What defineTask returns: the task's name, Schemas, handler and defaults, typed by input and output. */
  TaskDefinition
} from "./tasks/define.ts"

export {
  /** Thrown by a handler to fail on purpose; `retryable: false` fails the job at once (bad data, bad parameters). */
  TaskError
} from "./worker/task-handler.ts"
export type {
  /** What a handler gets besides its input: an abort signal, a progress reporter, and its job, index and attempt. */
  TaskContext,
  /** An untyped handler over wire (JSON) values, as a plain JavaScript task module may export it. */
  TaskHandler
} from "./worker/task-handler.ts"

export {
  /** A producer's connection: submit tasks and await typed results, submit batches, inspect and cancel jobs. */
  Client,
  /** A submitted job of user-defined tasks: await its outputs (typed, in input order), watch it, cancel it. */
  JobHandle
} from "./producer/client.ts"
export type {
  /** How a job ended: its id, state (completed, failed or cancelled), result, reason, task count and duration. */
  JobOutcome,
  /** How submitted tasks run (priority, delay, attempts, backoff, timeouts); defaults come from the definition. */
  SubmitOptions
} from "./producer/client.ts"
export type {
  /** How to await a job's outputs: a timeout (the job is cancelled when it passes) and a progress callback. */
  AwaitOptions,
  /** What a watcher of a job hears: its progress, and each retry as it is decided. */
  TaskProgress
} from "./producer/task-jobs.ts"

export {
  /** An input that does not satisfy the task's input Schema; refused before it enters the log. */
  InvalidInput,
  /** A result that does not decode with the task's output Schema (the worker ran another version of the task). */
  InvalidOutput,
  /** The job was cancelled (by request, or rejected by the coordinator) before it finished. */
  JobCancelled,
  /** A task failed for good: the handler's message, whether it was retryable, and how many attempts it had. */
  TaskFailed,
  /** The result did not come within the caller's timeout; the job has been asked to cancel. */
  TaskTimeout
} from "./producer/errors.ts"
export {
  /** A job spec the cluster refuses, naming the field that is wrong. */
  BadSpec
} from "./domain/errors.ts"
export {
  /** The NATS server cannot be reached (the CLI's exit code 3). */
  ClusterUnreachable
} from "./nats/errors.ts"
export type {
  /** A job as `client.job(id)` and `dtq job` show it: spec, state, progress, attempts, outcome. */
  JobView,
  /** A worker as `client.workers()` and `dtq workers` show it: id, state, slots, the kinds it runs, what it holds now. */
  WorkerView
} from "./projections/views.ts"

export {
  /** Another live worker already uses the id a Worker was started with. */
  DuplicateWorker,
  /** A worker in this process: `Worker.start({ url, tasks })` joins the cluster and runs leased tasks until stopped. */
  Worker
} from "./worker/worker.ts"
export type {
  /** How a Worker runs: the NATS URL, its id, slots, prefetch, the tasks it runs, beat intervals, fault injection. */
  WorkerOptions
} from "./worker/worker.ts"
