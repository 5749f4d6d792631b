// Errors at the NATS edge, each with a message a user can act on.
import { Data } from "effect"

/** The NATS server cannot be reached (exit code 3). */
export class ClusterUnreachable extends Data.TaggedError("ClusterUnreachable")<{ readonly url: string; readonly detail: string }> {
  override get message(): string {
    return `cannot reach the NATS server at ${this.url}: ${this.detail}`
  }
}

/** The server is reachable but its JetStream setup does not fit dtq (no JetStream, an incompatible stream). */
export class StreamSetupError extends Data.TaggedError("StreamSetupError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** nats-server is not installed or could not be started. */
export class LocalServerError extends Data.TaggedError("LocalServerError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** A credential or TLS setting that cannot be used (a missing seed or creds file, a password without a user): exit code 3. */
export class CredentialsUnusable extends Data.TaggedError("CredentialsUnusable")<{
  readonly option: string
  readonly file: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    return `cannot connect to NATS: ${this.option}${this.file === undefined ? "" : ` file ${this.file}`} ${this.detail}`
  }
}

/** An event over the size limit: refused by the writer before it is published. */
export class EventTooLarge extends Data.TaggedError("EventTooLarge")<{ readonly type: string; readonly id: string; readonly bytes: number; readonly limit: number }> {
  override get message(): string {
    return `${this.type} ${this.id} is ${this.bytes} bytes, over the ${this.limit}-byte event limit: bulky data belongs in the Object Store, referenced from the event`
  }
}

/**
 * The event stream refuses new events: a byte or message limit is reached (the stream discards new, never
 * old). Nothing stored is lost; nothing new is recorded until an operator compacts the log or raises the limit.
 */
export class StreamFull extends Data.TaggedError("StreamFull")<{ readonly stream: string; readonly type: string; readonly detail: string }> {
  override get message(): string {
    return `the event stream ${this.stream} is full and refuses new events (${this.detail}); ${this.type} was not recorded. Events already stored are intact. Compact the log (dtq compact) or raise its limit (dtq coordinator --max-stream-bytes/--max-stream-msgs)`
  }
}
