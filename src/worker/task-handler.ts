// The contract between the worker runtime and the code that runs a task.

export type TaskContext = {
  /** Aborted when the task is no longer wanted (job cancelled or ended, another copy won, worker stopping). */
  readonly signal: AbortSignal
  /** Reports progress in [0, 1]; progress that advances keeps a long task's lease alive. */
  readonly progress: (fraction: number) => void
  /** Which task this is: its job, its index in the job, and the attempt (1 for the first run). */
  readonly jobId: string
  readonly index: number
  readonly attempt: number
}

export type TaskHandler = (input: unknown, context: TaskContext) => unknown

/** A failure a handler throws on purpose; `retryable: false` fails the job at once (bad data, bad parameters). */
export class TaskError extends Error {
  readonly retryable: boolean
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = "TaskError"
    this.retryable = options.retryable
  }
}
