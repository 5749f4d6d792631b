// A task that does nothing, for measuring the round trip of the queue itself.
import { Schema, defineTask } from "dtq"

export const noop = defineTask({
  name: "noop",
  input: Schema.Struct({ i: Schema.Int }),
  output: Schema.Struct({ i: Schema.Int }),
  handler: ({ i }) => ({ i })
})

export const tasks = [noop]
