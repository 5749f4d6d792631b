// The built-in task kinds every worker can run.
import { parseInteger, rangeSum } from "../domain/range-sum.ts"
import { TaskError, type TaskHandler } from "./task-handler.ts"

const rangeHandler =
  (op: "sum" | "sumsq"): TaskHandler =>
  (input) => {
    const { from, to } = (input ?? {}) as { from?: unknown; to?: unknown }
    const a = typeof from === "string" ? parseInteger(from) : undefined
    const b = typeof to === "string" ? parseInteger(to) : undefined
    if (a === undefined || b === undefined) {
      throw new TaskError(`bad ${op} task input: from and to must be decimal integer strings`, { retryable: false })
    }
    return rangeSum(op, a, b).toString()
  }

export const builtinHandlers = (): Map<string, TaskHandler> =>
  new Map([
    ["sum", rangeHandler("sum")],
    ["sumsq", rangeHandler("sumsq")]
  ])
