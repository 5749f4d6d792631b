// Fault and load injection for experiments: each rate is a probability per task.
import { abortableSleep } from "./abortable-sleep.ts"
import { TaskError } from "./task-handler.ts"

export type FaultOptions = {
  /** The task fails (retryable) after it ran. */
  readonly failRate: number
  /** The task is delayed by `delayMs` before it runs. */
  readonly delayRate: number
  readonly delayMs: number
  /** The worker refuses the task at once (retryable), as an overloaded worker would. */
  readonly rejectRate: number
  /** The task fails with a non-retryable error (as bad data would): its job fails at once. */
  readonly fatalRate?: number
}

export const NO_FAULTS: FaultOptions = { failRate: 0, delayRate: 0, delayMs: 0, rejectRate: 0, fatalRate: 0 }

/** Before the handler: may reject or delay. */
export const beforeTask = async (faults: FaultOptions, signal: AbortSignal, random = Math.random): Promise<void> => {
  if (faults.rejectRate > 0 && random() < faults.rejectRate) {
    throw new TaskError("rejected by the worker (injected)", { retryable: true })
  }
  if (faults.delayRate > 0 && random() < faults.delayRate) await abortableSleep(faults.delayMs, signal)
}

/** After the handler: may turn success into failure. */
export const afterTask = (faults: FaultOptions, random = Math.random): void => {
  if ((faults.fatalRate ?? 0) > 0 && random() < (faults.fatalRate ?? 0)) throw new TaskError("failed for good (injected)", { retryable: false })
  if (faults.failRate > 0 && random() < faults.failRate) throw new TaskError("failed (injected)", { retryable: true })
}
