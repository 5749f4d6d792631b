// Ids for events, jobs and processes. Random, so two writers never collide; subject-safe by construction.
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

const randomToken = (length: number): string => {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(length))
  let out = ""
  for (const byte of bytes) out += ALPHABET[byte % 36]
  return out
}

/** A unique event id, used as the Nats-Msg-Id so that a retried publish is stored once. */
export const newEventId = (): string => globalThis.crypto.randomUUID()

/** A short job id such as `j-k3x9q2m7p1`: easy to type at the prompt. */
export const newJobId = (): string => `j-${randomToken(10)}`

export const newProcessId = (prefix: string): string => `${prefix}-${randomToken(6)}`

/** Why a user-chosen job id cannot be used (it travels in subjects), or undefined when it can. */
export const jobIdProblem = (jobId: string): string | undefined =>
  /^[A-Za-z0-9_-]{1,64}$/.test(jobId) ? undefined : `${JSON.stringify(jobId)} is not a job id: use 1-64 letters, digits, '_' or '-' (e.g. jobId=MNIST_BASE)`
