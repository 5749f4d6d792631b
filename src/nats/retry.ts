// Retrying a flaky async operation (a publish during a server restart, ...) on an Effect Schedule:
// exponential backoff with jitter, capped, for a bounded number of tries.
import { Duration, Effect, Schedule } from "effect"

export type RetryPolicy = { readonly times: number; readonly baseMs: number; readonly maxMs: number }

export const backoffSchedule = (policy: RetryPolicy) =>
  Schedule.exponential(Duration.millis(policy.baseMs)).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.millis(policy.maxMs)))),
    Schedule.jittered
  )

/** Runs `run` until it succeeds or `policy.times` retries have failed; then rejects with the last error. */
export const retryPromise = <A>(run: () => Promise<A>, policy: RetryPolicy): Promise<A> =>
  Effect.runPromise(
    Effect.tryPromise({ try: run, catch: (error) => error }).pipe(
      Effect.retry({ schedule: backoffSchedule(policy), times: policy.times })
    )
  )
