// What a producer's await can end in, besides a result. Each is an Error with a `_tag` to match on.

/** An input that does not satisfy the task's input Schema; refused before it enters the log. */
export class InvalidInput extends Error {
  readonly _tag = "InvalidInput"
  override readonly name = "InvalidInput"
}

/** The result did not come within the caller's timeout; the job has been asked to cancel. */
export class TaskTimeout extends Error {
  readonly _tag = "TaskTimeout"
  override readonly name = "TaskTimeout"
  readonly jobId: string
  readonly timeoutMs: number
  constructor(jobId: string, timeoutMs: number) {
    super(`job ${jobId} did not finish within ${timeoutMs} ms; it has been cancelled`)
    this.jobId = jobId
    this.timeoutMs = timeoutMs
  }
}

/**
 * A task failed for good: `error` is the handler's message. `retryable` says what kind of error it was:
 * false, it failed at once (not worth a retry); true, it was retried until its attempts ran out.
 */
export class TaskFailed extends Error {
  readonly _tag = "TaskFailed"
  override readonly name = "TaskFailed"
  readonly jobId: string
  readonly index: number | undefined
  readonly error: string
  readonly retryable: boolean
  readonly attempts: number | undefined
  constructor(jobId: string, reason: string, task?: { index: number; attempts: number; error: string; retryable: boolean }) {
    super(task === undefined ? `job ${jobId} failed: ${reason}` : task.error)
    this.jobId = jobId
    this.index = task?.index
    this.error = task?.error ?? reason
    this.retryable = task?.retryable ?? false
    this.attempts = task?.attempts
  }
}

/** The job was cancelled (by request, or rejected by the coordinator) before it finished. */
export class JobCancelled extends Error {
  readonly _tag = "JobCancelled"
  override readonly name = "JobCancelled"
  readonly jobId: string
  constructor(jobId: string, reason: string) {
    super(`job ${jobId} was cancelled: ${reason}`)
    this.jobId = jobId
  }
}

/** A result that does not decode with the task's output Schema (the worker ran another version of the task). */
export class InvalidOutput extends Error {
  readonly _tag = "InvalidOutput"
  override readonly name = "InvalidOutput"
}

/**
 * No live worker has advertised the task: refused at once instead of waiting for a worker that may
 * never come (give `queueUnknown` / `--queue-unknown` to queue it anyway). `running` lists the task
 * names live workers do run.
 */
export class UnknownTask extends Error {
  readonly _tag = "UnknownTask"
  override readonly name = "UnknownTask"
  readonly task: string
  readonly running: ReadonlyArray<string>
  constructor(task: string, running: ReadonlyArray<string>, options?: { cause?: unknown }) {
    super(
      `no live worker runs task ${task} (live workers run: ${running.length === 0 ? "no user tasks" : running.join(", ")}); ` +
        `start one with dtq worker --tasks MODULE, or pass --queue-unknown to queue the job until one does`,
      options
    )
    this.task = task
    this.running = running
  }
}
