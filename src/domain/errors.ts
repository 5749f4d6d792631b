// Typed errors of the domain: each names what is wrong, matched by its tag.
import { Data } from "effect"

/** A job spec or command argument that cannot be accepted; `field` names the culprit. */
export class BadSpec extends Data.TaggedError("BadSpec")<{ readonly field: string; readonly message: string }> {
  override toString(): string {
    return this.field === "" ? this.message : `${this.field}: ${this.message}`
  }
}

/** An event that cannot be folded: it is set aside with this reason, never applied. */
export class RejectedEvent extends Data.TaggedError("RejectedEvent")<{ readonly reason: string }> {}
