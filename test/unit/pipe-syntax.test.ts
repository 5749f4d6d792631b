import { describe, expect, it } from "vitest"
import { parsePromptLine } from "../../src/producer/pipe-syntax.ts"

describe("parsePromptLine", () => {
  it('"sum 1|1000000"', () => {
    expect(parsePromptLine("sum 1|1000000")).toEqual({ command: "sum", positional: ["1", "1000000"], options: {}, rest: "1|1000000" })
  })

  it('"train model=logreg|task=binary_is_zero|samples=2000"', () => {
    expect(parsePromptLine("train model=logreg|task=binary_is_zero|samples=2000")).toEqual({
      command: "train",
      positional: [],
      options: { model: "logreg", task: "binary_is_zero", samples: "2000" },
      rest: "model=logreg|task=binary_is_zero|samples=2000"
    })
  })

  it('"sum 1 10": spaces separate parts when there is no |', () => {
    expect(parsePromptLine("sum 1 10")).toEqual({ command: "sum", positional: ["1", "10"], options: {}, rest: "1 10" })
    expect(parsePromptLine("sum   -5 \t 5  ")).toEqual({ command: "sum", positional: ["-5", "5"], options: {}, rest: "-5 \t 5" })
    expect(parsePromptLine("sumsq 1 100 tasks=7")).toEqual({ command: "sumsq", positional: ["1", "100"], options: { tasks: "7" }, rest: "1 100 tasks=7" })
  })

  it("blank and comment lines are undefined", () => {
    for (const line of ["", "   ", "\t\n", "# a comment", "   # indented comment", "#sum 1|2"]) {
      expect(parsePromptLine(line), JSON.stringify(line)).toBeUndefined()
    }
  })

  it('"chat hello | there": rest is preserved untouched', () => {
    const parsed = parsePromptLine("chat hello | there")
    expect(parsed).toEqual({ command: "chat", positional: ["hello", "there"], options: {}, rest: "hello | there" })
    expect(parsePromptLine("chat   what is 2+2=?  ")?.rest).toBe("what is 2+2=?")
    expect(parsePromptLine("chat a  |  b=c |")?.rest).toBe("a  |  b=c |")
  })

  it("a command alone, and the command word is lower-cased (arguments are not)", () => {
    expect(parsePromptLine("jobs")).toEqual({ command: "jobs", positional: [], options: {}, rest: "" })
    expect(parsePromptLine("  JOBS  ")).toEqual({ command: "jobs", positional: [], options: {}, rest: "" })
    expect(parsePromptLine("Job J-ABC")).toEqual({ command: "job", positional: ["J-ABC"], options: {}, rest: "J-ABC" })
  })

  it("parts are trimmed, empty parts skipped, options split at the first =", () => {
    expect(parsePromptLine("sum  1 | | 10 |")).toEqual({ command: "sum", positional: ["1", "10"], options: {}, rest: "1 | | 10 |" })
    expect(parsePromptLine("x a = b |c=d=e| =f")).toEqual({ command: "x", positional: ["=f"], options: { a: "b", c: "d=e" }, rest: "a = b |c=d=e| =f" })
    expect(parsePromptLine("x k=")).toEqual({ command: "x", positional: [], options: { k: "" }, rest: "k=" })
    // A repeated option: the last one wins.
    expect(parsePromptLine("x k=1|k=2")?.options).toEqual({ k: "2" })
  })

  it("with a |, spaces inside a part are kept", () => {
    expect(parsePromptLine("train name=my model|x y")).toEqual({ command: "train", positional: ["x y"], options: { name: "my model" }, rest: "name=my model|x y" })
  })
})
