// Exact range sums over integers of any size (BigInt), and the split of a range into chunks.

export type RangeOp = "sum" | "sumsq"

// P(n) with P(n) - P(n-1) = n (sum) or n^2 (sumsq) for every integer n, negative ones included,
// so sum_{k=a}^{b} f(k) = P(b) - P(a-1) telescopes over any inclusive range.
const prefixSum = (n: bigint): bigint => (n * (n + 1n)) / 2n
const prefixSumSq = (n: bigint): bigint => (n * (n + 1n) * (2n * n + 1n)) / 6n

/** Sum of k (op "sum") or k^2 (op "sumsq") for k in [from, to] inclusive; 0 for an empty range. */
export const rangeSum = (op: RangeOp, from: bigint, to: bigint): bigint => {
  if (from > to) return 0n
  const prefix = op === "sum" ? prefixSum : prefixSumSq
  return prefix(to) - prefix(from - 1n)
}

const INTEGER = /^[+-]?\d+$/

/** Parses a decimal integer of any size; undefined when the text is not one. */
export const parseInteger = (text: string): bigint | undefined => {
  const trimmed = text.trim()
  if (!INTEGER.test(trimmed)) return undefined
  return BigInt(trimmed)
}

export type Chunk = { readonly from: bigint; readonly to: bigint }

/** The number of integers in [from, to]. */
export const rangeLength = (from: bigint, to: bigint): bigint => (to < from ? 0n : to - from + 1n)

/**
 * Chunk `index` of `count` near-equal chunks of [from, to]: the first `length % count` chunks are one
 * longer. Computed in O(1) from the index, so a job of a million tasks needs no task table.
 */
export const chunkOf = (from: bigint, to: bigint, count: number, index: number): Chunk => {
  const length = rangeLength(from, to)
  const n = BigInt(count)
  const i = BigInt(index)
  const base = length / n
  const extra = length % n
  const start = from + i * base + (i < extra ? i : extra)
  const size = base + (i < extra ? 1n : 0n)
  return { from: start, to: start + size - 1n }
}
