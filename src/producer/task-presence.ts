// Whether a live worker runs a user-defined task, asked of the workers themselves: each worker answers on
// the task's check subject (a queue group), so "no responders" means no live worker has advertised it.
import type { NatsConnection } from "@nats-io/transport-node"
import { RESERVED_TASK_NAMES } from "../domain/job-spec.ts"
import { taskCheckSubject } from "../nats/subjects.ts"
import type { WorkerView } from "../projections/views.ts"
import { isNoResponders } from "./no-responders.ts"

export type TaskCheckReply = { ok?: boolean; error?: string; index?: number; defaults?: Record<string, unknown> }

/** `answered`: a worker checked the inputs; `none`: no live worker runs the task; `silent`: none answered in time. */
export type TaskCheck = { readonly kind: "answered"; readonly reply: TaskCheckReply } | { readonly kind: "none" } | { readonly kind: "silent" }

/** Asks one live worker that runs `task` to check `inputs` (an empty list only asks whether one runs it). */
export const checkTask = async (nc: NatsConnection, task: string, inputs: ReadonlyArray<unknown>, timeoutMs = 5000): Promise<TaskCheck> => {
  try {
    const msg = await nc.request(taskCheckSubject(task), JSON.stringify({ inputs }), { timeout: timeoutMs })
    return { kind: "answered", reply: JSON.parse(new TextDecoder().decode(msg.data)) as TaskCheckReply }
  } catch (error) {
    return isNoResponders(error) ? { kind: "none" } : { kind: "silent" }
  }
}

/** The user task names live workers run, sorted (built-in kinds left out). */
export const liveTaskNames = (workers: ReadonlyArray<WorkerView>): string[] => {
  const names = new Set<string>()
  for (const w of workers) if (w.state === "live") for (const k of w.kinds) if (!RESERVED_TASK_NAMES.has(k)) names.add(k)
  return [...names].sort()
}
