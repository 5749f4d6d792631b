import { describe, expect, it } from "vitest"
import { chunkOf, parseInteger, rangeLength, rangeSum, type RangeOp } from "../../src/domain/range-sum.ts"

const brute = (op: RangeOp, from: bigint, to: bigint): bigint => {
  let total = 0n
  for (let k = from; k <= to; k++) total += op === "sum" ? k : k * k
  return total
}

describe("rangeSum against brute force", () => {
  for (const op of ["sum", "sumsq"] as const) {
    it(`${op}: every range with both ends in [-25, 25]`, () => {
      let checked = 0
      for (let from = -25n; from <= 25n; from++) {
        for (let to = -25n; to <= 25n; to++) {
          // from > to is the empty range: 0, like brute force.
          expect(rangeSum(op, from, to), `${op} ${from}..${to}`).toBe(brute(op, from, to))
          checked++
        }
      }
      expect(checked).toBe(51 * 51)
    })
  }

  it("known values", () => {
    expect(rangeSum("sum", 1n, 100n)).toBe(5050n)
    expect(rangeSum("sumsq", 1n, 10n)).toBe(385n)
    expect(rangeSum("sumsq", 1n, 1_000_000n)).toBe(333333833333500000n)
    expect(rangeSum("sum", -10n, 10n)).toBe(0n)
    expect(rangeSum("sum", -10n, 5n)).toBe(-40n)
    expect(rangeSum("sumsq", -3n, 2n)).toBe(9n + 4n + 1n + 0n + 1n + 4n)
    expect(rangeSum("sum", -5n, -1n)).toBe(-15n)
    expect(rangeSum("sumsq", -5n, -1n)).toBe(55n)
  })

  it("single-element ranges are the element (or its square)", () => {
    for (const k of [-1000n, -7n, -1n, 0n, 1n, 2n, 99n, 10n ** 30n]) {
      expect(rangeSum("sum", k, k)).toBe(k)
      expect(rangeSum("sumsq", k, k)).toBe(k * k)
    }
  })

  it("empty ranges (from > to) sum to 0", () => {
    expect(rangeSum("sum", 1n, 0n)).toBe(0n)
    expect(rangeSum("sumsq", 1n, 0n)).toBe(0n)
    expect(rangeSum("sum", 10n, -10n)).toBe(0n)
    expect(rangeSum("sumsq", 10n, -10n)).toBe(0n)
    expect(rangeSum("sum", 10n ** 25n, 1n)).toBe(0n)
    expect(rangeSum("sum", 0n, -1n)).toBe(0n)
  })

  it("sum 1..10^25+2 is n(n+1)/2 exactly", () => {
    const n = 10n ** 25n + 2n
    const expected = (n * (n + 1n)) / 2n
    expect(rangeSum("sum", 1n, n)).toBe(expected)
    expect(rangeSum("sum", 1n, n).toString()).toBe("50000000000000000000000025000000000000000000000003")
  })

  it("sumsq 1..10^25+2 is n(n+1)(2n+1)/6 exactly", () => {
    const n = 10n ** 25n + 2n
    expect(rangeSum("sumsq", 1n, n)).toBe((n * (n + 1n) * (2n * n + 1n)) / 6n)
  })

  it("huge ranges split anywhere add up, and symmetric ranges behave", () => {
    const n = 10n ** 40n + 12345n
    for (const op of ["sum", "sumsq"] as const) {
      for (const m of [-n, -1n, 0n, 1n, 7n, n / 3n, n - 1n]) {
        expect(rangeSum(op, -n, m) + rangeSum(op, m + 1n, n)).toBe(rangeSum(op, -n, n))
      }
    }
    expect(rangeSum("sum", -n, n)).toBe(0n)
    expect(rangeSum("sumsq", -n, n)).toBe(2n * rangeSum("sumsq", 1n, n))
    expect(rangeSum("sum", -n, -1n)).toBe(-rangeSum("sum", 1n, n))
  })

  it("near-huge windows match brute force", () => {
    const big = 10n ** 30n
    for (const [from, to] of [
      [big, big + 20n],
      [-big - 20n, -big],
      [-big, -big + 3n]
    ] as const) {
      expect(rangeSum("sum", from, to)).toBe(brute("sum", from, to))
      expect(rangeSum("sumsq", from, to)).toBe(brute("sumsq", from, to))
    }
  })
})

describe("rangeLength", () => {
  it("counts integers in an inclusive range, 0 when empty", () => {
    expect(rangeLength(1n, 10n)).toBe(10n)
    expect(rangeLength(-5n, 5n)).toBe(11n)
    expect(rangeLength(3n, 3n)).toBe(1n)
    expect(rangeLength(4n, 3n)).toBe(0n)
    expect(rangeLength(10n, -10n)).toBe(0n)
  })
})

describe("chunkOf", () => {
  const combos: Array<[bigint, bigint, number]> = [
    [1n, 100n, 1],
    [1n, 100n, 3],
    [1n, 100n, 7],
    [1n, 100n, 100], // count == length
    [1n, 1n, 1], // a single integer
    [-50n, 49n, 9],
    [-1000n, 999n, 37],
    [-3n, 3n, 7], // count == length across zero
    [0n, 10n, 4],
    [5n, 17n, 13], // count == length
    [1n, 10n ** 25n + 2n, 100],
    [-(10n ** 20n), 10n ** 20n, 999]
  ]

  for (const [from, to, count] of combos) {
    it(`[${from}, ${to}] in ${count} chunks: contiguous, exact cover, sizes differ by at most 1`, () => {
      const chunks = Array.from({ length: count }, (_, i) => chunkOf(from, to, count, i))
      expect(chunks[0]?.from).toBe(from)
      expect(chunks[count - 1]?.to).toBe(to)
      const sizes: bigint[] = []
      for (let i = 0; i < count; i++) {
        const chunk = chunks[i]!
        const size = chunk.to - chunk.from + 1n
        expect(size >= 1n, `chunk ${i} is not empty`).toBe(true)
        sizes.push(size)
        if (i > 0) expect(chunk.from).toBe(chunks[i - 1]!.to + 1n)
      }
      const total = sizes.reduce((a, b) => a + b, 0n)
      expect(total).toBe(to - from + 1n)
      const max = sizes.reduce((a, b) => (b > a ? b : a))
      const min = sizes.reduce((a, b) => (b < a ? b : a))
      expect(max - min <= 1n).toBe(true)
      // The longer chunks come first.
      const length = to - from + 1n
      const extra = Number(length % BigInt(count))
      for (let i = 0; i < count; i++) expect(sizes[i]).toBe(length / BigInt(count) + (i < extra ? 1n : 0n))
      // The sum over chunks is the sum over the whole range.
      for (const op of ["sum", "sumsq"] as const) {
        const bySum = chunks.reduce((acc, c) => acc + rangeSum(op, c.from, c.to), 0n)
        expect(bySum).toBe(rangeSum(op, from, to))
      }
    })
  }

  it("count == length gives one integer per chunk", () => {
    for (let i = 0; i < 7; i++) expect(chunkOf(-3n, 3n, 7, i)).toEqual({ from: BigInt(i - 3), to: BigInt(i - 3) })
  })

  it("exact chunks of 1..10 in 3", () => {
    expect([0, 1, 2].map((i) => chunkOf(1n, 10n, 3, i))).toEqual([
      { from: 1n, to: 4n },
      { from: 5n, to: 7n },
      { from: 8n, to: 10n }
    ])
  })

  it("a single chunk is the whole range", () => {
    expect(chunkOf(-7n, 12n, 1, 0)).toEqual({ from: -7n, to: 12n })
  })
})

describe("parseInteger", () => {
  it("accepts signed, zero and padded decimal integers", () => {
    expect(parseInteger("+5")).toBe(5n)
    expect(parseInteger("-0")).toBe(0n)
    expect(parseInteger(" 12 ")).toBe(12n)
    expect(parseInteger("0")).toBe(0n)
    expect(parseInteger("-42")).toBe(-42n)
    expect(parseInteger("007")).toBe(7n)
    expect(parseInteger("\t-9\n")).toBe(-9n)
    expect(parseInteger("123456789012345678901234567890")).toBe(123456789012345678901234567890n)
  })

  it("refuses anything else", () => {
    for (const text of ["1.5", "1e3", "", "abc", " ", "+", "-", "--5", "+-5", "0x10", "1_000", "1 000", "5a", "Infinity", "NaN", "1.", ".5"]) {
      expect(parseInteger(text), JSON.stringify(text)).toBeUndefined()
    }
  })
})
