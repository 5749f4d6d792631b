// "No responders": no process listens on the subject (nothing runs there), as opposed to a slow answer.
import { NoRespondersError } from "@nats-io/transport-node"

export const isNoResponders = (error: unknown): boolean =>
  error instanceof NoRespondersError || (error instanceof Error && (error.cause instanceof NoRespondersError || /no responders/i.test(error.message)))
