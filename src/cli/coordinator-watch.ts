// A wait for a job never goes silent: it says what it waits for at once, and when no coordinator has
// answered for NO_COORDINATOR_BOUND_MS (no coordinator process listens: "no responders") it says so and how to start one, and stops waiting (exit 3) unless
// asked to keep waiting (--keep-waiting). The job itself is in the log either way: nothing is lost.
import type { Client } from "../producer/client.ts"
import { isNoResponders } from "../producer/no-responders.ts"

/** How long a wait goes on with no coordinator answering before it says so (documented in docs/operations.md). */
export const NO_COORDINATOR_BOUND_MS = 5000

/** How often the wait asks whether a coordinator answers. */
const PROBE_EVERY_MS = 1000

export class NoCoordinator extends Error {
  readonly _tag = "NoCoordinator"
  override readonly name = "NoCoordinator"
  readonly jobId: string
  readonly boundMs: number
  constructor(jobId: string, boundMs: number) {
    super(
      `no coordinator answered within ${boundMs / 1000} s; job ${jobId} is in the log and runs once one starts ` +
        `(dtq coordinator, or dtq up for a whole local cluster); dtq job ${jobId} --wait follows it, --keep-waiting waits for a coordinator`
    )
    this.jobId = jobId
    this.boundMs = boundMs
  }
}

export type WaitOptions = {
  readonly keepWaiting: boolean
  readonly boundMs?: number
  /** Where to say what the wait is for (stderr). */
  readonly note: (line: string) => void
}

/**
 * Waits for `waited` (the job's end) and, beside it, asks every second whether a coordinator answers.
 * Rejects with NoCoordinator after the bound unless `keepWaiting` (then says once that it keeps waiting).
 */
export const waitWithCoordinator = async <T>(client: Client, jobId: string, waited: Promise<T>, options: WaitOptions): Promise<T> => {
  const boundMs = options.boundMs ?? NO_COORDINATOR_BOUND_MS
  options.note(`dtq: waiting for job ${jobId} to end (Ctrl-C stops waiting; the job keeps running)`)
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const silence = new Promise<never>((_, reject) => {
    let lastAnswer = Date.now()
    let said = false
    const probe = async () => {
      if (stopped) return
      // Only "no responders" is silence: a slow coordinator, or a server restarting, is still there.
      const none = await client.ask("info", {}, PROBE_EVERY_MS).then(() => false, (error: unknown) => isNoResponders(error))
      if (stopped) return
      if (!none) lastAnswer = Date.now()
      else if (Date.now() - lastAnswer >= boundMs) {
        if (!options.keepWaiting) return reject(new NoCoordinator(jobId, boundMs))
        if (!said) options.note(`dtq: no coordinator has answered for ${boundMs / 1000} s; waiting for one as asked (start one with dtq coordinator, or dtq up)`)
        said = true
      }
      timer = setTimeout(() => void probe(), PROBE_EVERY_MS)
    }
    timer = setTimeout(() => void probe(), PROBE_EVERY_MS)
  })
  waited.catch(() => undefined) // abandoned when the bound passes: its later rejection is not an error
  silence.catch(() => undefined)
  try {
    return await Promise.race([waited, silence])
  } finally {
    stopped = true
    clearTimeout(timer)
  }
}
