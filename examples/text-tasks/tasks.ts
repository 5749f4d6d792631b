// Text tasks for dtq workers: word counts and content hashes. Load them with
//   npx dtq worker --tasks examples/text-tasks/tasks.ts
// The inputs carry the text itself, so workers need no shared file system.
import { createHash } from "node:crypto"
import { Schema, TaskError, defineTask } from "dtq"

const WordCount = Schema.Struct({ word: Schema.String, count: Schema.Number })

/** Words (letters, digits and apostrophes, case-folded) of one text: total, distinct, and the most frequent. */
export const wordCount = defineTask({
  name: "word-count",
  input: Schema.Struct({
    /** Where the text came from (shown in results). */
    source: Schema.String,
    text: Schema.String,
    /** How many of the most frequent words to return. Default 10. */
    top: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 })))
  }),
  output: Schema.Struct({
    source: Schema.String,
    words: Schema.Number,
    distinct: Schema.Number,
    lines: Schema.Number,
    top: Schema.Array(WordCount)
  }),
  handler: ({ source, text, top }, { signal, progress }) => {
    const counts = new Map<string, number>()
    const lines = text.split("\n")
    let words = 0
    for (const [i, line] of lines.entries()) {
      if (signal.aborted) throw new TaskError("cancelled", { retryable: false })
      for (const match of line.toLowerCase().matchAll(/[\p{L}\p{N}']+/gu)) {
        const word = match[0].replace(/^'+|'+$/g, "")
        if (word === "") continue
        counts.set(word, (counts.get(word) ?? 0) + 1)
        words++
      }
      if (i % 1000 === 0) progress(i / lines.length)
    }
    const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    return {
      source,
      words,
      distinct: counts.size,
      lines: text === "" ? 0 : text.endsWith("\n") ? lines.length - 1 : lines.length,
      top: ranked.slice(0, top ?? 10).map(([word, count]) => ({ word, count }))
    }
  },
  defaults: { maxAttempts: 2, timeoutMs: 60_000 }
})

/** SHA-256 of a text (UTF-8) or of base64 bytes. */
export const sha256 = defineTask({
  name: "sha256",
  input: Schema.Union([Schema.Struct({ text: Schema.String }), Schema.Struct({ base64: Schema.String })]),
  output: Schema.Struct({ sha256: Schema.String, bytes: Schema.Number }),
  handler: (input) => {
    const bytes = "text" in input ? Buffer.from(input.text, "utf8") : Buffer.from(input.base64, "base64")
    return { sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length }
  }
})

export const tasks = [wordCount, sha256]
