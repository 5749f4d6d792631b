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
