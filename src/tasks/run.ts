// Running a defined task on a worker: decode the wire input, call the handler, encode its output.
// A bad input or an output that breaks its Schema is not worth a retry: both fail the task for good.
import { TaskError, type TaskHandler } from "../worker/task-handler.ts"
import { decodeInput, encodeOutput } from "./codec.ts"
import type { AnyTaskDefinition } from "./define.ts"

export const definitionHandler =
  (def: AnyTaskDefinition): TaskHandler =>
  async (wire, context) => {
    const input = decodeInput(def, wire)
    if (!input.ok) throw new TaskError(`task ${def.name}: ${input.error}`, { retryable: false })
    const output = await def.handler(input.value, context)
    const encoded = encodeOutput(def, output)
    if (!encoded.ok) throw new TaskError(`task ${def.name} returned a bad result: ${encoded.error}`, { retryable: false })
    return encoded.value
  }
