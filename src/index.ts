// The public face of the dtq package: define tasks, run workers, and submit and await tasks with a typed client.
//
//   import { Client, defineTask, Schema } from "dtq"
//   export const wordCount = defineTask({ name: "word-count", input: Schema.Struct({ text: Schema.String }),
//     output: Schema.Struct({ words: Schema.Number }), handler: ({ text }) => ({ words: text.split(/\s+/).length }) })
//   const client = await Client.connect("nats://127.0.0.1:4222")
//   const { words } = await client.submit(wordCount, { text: "to be or not" }, { timeout: 5000 })
export { Schema } from "./domain/schema.ts"
export { defineTask, isTaskDefinition } from "./tasks/define.ts"
export type { AnyTaskDefinition, InputOf, OutputOf, TaskDefaults, TaskDefinition } from "./tasks/define.ts"
export { TaskError } from "./worker/task-handler.ts"
export type { TaskContext, TaskHandler } from "./worker/task-handler.ts"
export { Client, JobHandle } from "./producer/client.ts"
export type { JobOutcome, SubmitOptions } from "./producer/client.ts"
export type { AwaitOptions, TaskProgress } from "./producer/task-jobs.ts"
export { InvalidInput, InvalidOutput, JobCancelled, TaskFailed, TaskTimeout } from "./producer/errors.ts"
export { BadSpec } from "./domain/errors.ts"
export { ClusterUnreachable } from "./nats/errors.ts"
export type { JobView, WorkerView } from "./projections/views.ts"
export { Worker } from "./worker/worker.ts"
export type { WorkerOptions } from "./worker/worker.ts"
export { Coordinator } from "./coordinator/coordinator.ts"
export { loadTaskModule } from "./tasks/load.ts"
export { startLocalServer } from "./nats/local-server.ts"
