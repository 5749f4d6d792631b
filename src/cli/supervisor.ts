// Keeps one child role running for `dtq up`: when it exits without being asked to, it is started again
// after a backoff (an Effect Schedule: exponential from 500 ms, capped at 10 s), with a line saying so.
import { Duration, Effect, Fiber, Schedule } from "effect"
import { stopChild, type Child } from "./local-cluster.ts"

export type RestartPolicy = { readonly baseMs: number; readonly maxMs: number }

/** Documented in docs/operations.md ("Supervision in dtq up"). */
export const RESTART_POLICY: RestartPolicy = { baseMs: 500, maxMs: 10_000 }

export type Supervised = {
  readonly name: string
  /** The running child, or the last one while a restart is due. */
  readonly current: () => Child
  readonly restarts: () => number
  /** Stops supervising, then stops the child. */
  readonly stop: () => Promise<void>
}

class ChildExited extends Error {}

const exitText = (child: Child): string =>
  child.process.signalCode !== null ? `was killed by ${child.process.signalCode}` : `exited with code ${child.process.exitCode}`

/**
 * Starts `start()` and keeps it running. The first start's failure is thrown (a cluster that cannot come
 * up says so); later ones are retried on the schedule like a crash.
 */
export const supervise = async (name: string, start: (restart: boolean) => Promise<Child>, say: (line: string) => void, policy: RestartPolicy = RESTART_POLICY): Promise<Supervised> => {
  let current = await start(false)
  let stopping = false
  let restarts = 0
  const schedule = Schedule.exponential(Duration.millis(policy.baseMs)).pipe(
    Schedule.modifyDelay(({ duration }) => {
      const delay = Duration.min(duration, Duration.millis(policy.maxMs))
      say(`supervisor: ${name} ${exitText(current)}; restarting it in ${Duration.toMillis(delay)} ms (restart ${restarts + 1})`)
      return Effect.succeed(delay)
    })
  )
  let first = true
  const runOnce = Effect.tryPromise({
    try: async () => {
      if (!first) {
        current = await start(true)
        if (stopping) return void (await stopChild(current)) // stopped while it was starting
        restarts++
        say(`supervisor: ${name} restarted (pid ${current.process.pid}, restart ${restarts})`)
      }
      first = false
      await current.exited
      if (!stopping) throw new ChildExited(name)
    },
    catch: (error) => error
  })
  const fiber = Effect.runFork(runOnce.pipe(Effect.retry({ schedule, while: () => !stopping }), Effect.ignore))
  return {
    name,
    current: () => current,
    restarts: () => restarts,
    stop: async () => {
      stopping = true
      await Effect.runPromise(Fiber.interrupt(fiber))
      await stopChild(current)
    }
  }
}
