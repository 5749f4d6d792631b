// Counts the words of text files on a dtq cluster: one task per file, run in parallel by the workers
// that loaded ./tasks.ts, then merged here.
//   node examples/text-tasks/count-words.ts README.md docs/*.md [--nats URL] [--top N]
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { Client, TaskFailed, TaskTimeout } from "dtq"
import { wordCount } from "./tasks.ts"

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { nats: { type: "string" }, top: { type: "string", default: "10" }, timeout: { type: "string", default: "60000" } }
})
if (positionals.length === 0) {
  console.error("usage: node examples/text-tasks/count-words.ts FILE... [--nats URL] [--top N]")
  process.exit(2)
}
const inputs = positionals.map((file) => {
  try {
    return { source: file, text: readFileSync(file, "utf8"), top: Number(values.top) }
  } catch (error) {
    console.error(`count-words: cannot read ${file}: ${(error as Error).message}`)
    process.exit(2)
  }
})

const client = await Client.connect(values.nats ?? process.env.DTQ_NATS_URL ?? "nats://127.0.0.1:4222")
try {
  const job = await client.batch(wordCount, inputs)
  const results = await job.results({ timeout: Number(values.timeout) })
  const total = new Map<string, number>()
  for (const r of results) {
    console.log(`${r.source}: ${r.words} words, ${r.distinct} distinct, ${r.lines} lines`)
    for (const { word, count } of r.top) total.set(word, (total.get(word) ?? 0) + count)
  }
  const words = results.reduce((n, r) => n + r.words, 0)
  console.log(`total: ${words} words in ${results.length} file(s) (job ${job.jobId})`)
  const top = [...total.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, Number(values.top))
  console.log(`most frequent (among each file's top ${values.top}): ${top.map(([w, c]) => `${w} ${c}`).join(", ")}`)
} catch (error) {
  if (error instanceof TaskFailed) console.error(`count-words: task ${error.index} failed${error.retryable ? "" : " (not retryable)"}: ${error.error}`)
  else if (error instanceof TaskTimeout) console.error(`count-words: ${error.message}`)
  else console.error(`count-words: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  await client.close()
}
