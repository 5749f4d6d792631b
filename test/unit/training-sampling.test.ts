import { describe, expect, it } from "vitest"
import { batchesPerEpoch, batchRows, epochOrder, mixSeeds, seededRandom, shardRows, shareSlice } from "../../src/training/sampling.ts"

const isPermutation = (order: Int32Array, rows: number): boolean => {
  if (order.length !== rows) return false
  const seen = new Uint8Array(rows)
  for (const i of order) {
    if (i < 0 || i >= rows || seen[i] === 1) return false
    seen[i] = 1
  }
  return true
}

describe("seededRandom", () => {
  it("is a function of the seed alone, with floats in [0, 1)", () => {
    const a = seededRandom(7)
    const b = seededRandom(7)
    const values = Array.from({ length: 10_000 }, () => a())
    expect(values).toEqual(Array.from({ length: 10_000 }, () => b()))
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true)
    const mean = values.reduce((s, v) => s + v, 0) / values.length
    expect(mean).toBeGreaterThan(0.48)
    expect(mean).toBeLessThan(0.52)
  })

  it("different seeds give different sequences", () => {
    const a = seededRandom(1)
    const b = seededRandom(2)
    expect(Array.from({ length: 5 }, () => a())).not.toEqual(Array.from({ length: 5 }, () => b()))
    expect(mixSeeds(1, 2)).not.toBe(mixSeeds(2, 1))
  })
})

describe("epochOrder", () => {
  it("is a permutation that depends only on (seed, epoch)", () => {
    const order = epochOrder(1000, 42, 3)
    expect(isPermutation(order, 1000)).toBe(true)
    expect(epochOrder(1000, 42, 3)).toEqual(order)
    expect(epochOrder(1000, 42, 4)).not.toEqual(order)
    expect(epochOrder(1000, 43, 3)).not.toEqual(order)
  })

  it("handles 0 and 1 rows", () => {
    expect(epochOrder(0, 1, 0)).toEqual(new Int32Array(0))
    expect(epochOrder(1, 1, 0)).toEqual(Int32Array.of(0))
  })
})

describe("mini-batches", () => {
  it("counts batches, the last one holding the remainder", () => {
    expect(batchesPerEpoch(10, 3)).toBe(4)
    expect(batchesPerEpoch(9, 3)).toBe(3)
    expect(batchesPerEpoch(0, 5)).toBe(0)
    expect(batchesPerEpoch(3, 100)).toBe(1)
    expect(() => batchesPerEpoch(10, 0)).toThrow(RangeError)
  })

  it("batches are consecutive views that cover the order once", () => {
    const order = epochOrder(10, 1, 0)
    const batches = Array.from({ length: batchesPerEpoch(10, 3) }, (_, b) => batchRows(order, b, 3))
    expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 1])
    expect(batches.flatMap((b) => Array.from(b))).toEqual(Array.from(order))
    expect(batches[0]?.buffer).toBe(order.buffer)
  })
})

describe("shareSlice", () => {
  it("splits rows into contiguous near-equal slices, each row in exactly one", () => {
    for (const length of [0, 1, 2, 5, 7, 64, 129]) {
      const rows = Int32Array.from({ length }, (_, i) => 1000 + i)
      for (const shares of [1, 2, 3, 4, 8]) {
        const slices = Array.from({ length: shares }, (_, s) => shareSlice(rows, s, shares))
        expect(slices.flatMap((s) => Array.from(s))).toEqual(Array.from(rows))
        const sizes = slices.map((s) => s.length)
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
        // The longer slices come first.
        expect([...sizes].sort((a, b) => b - a)).toEqual(sizes)
      }
    }
  })

  it("gives empty shares when there are fewer rows than shares", () => {
    const rows = Int32Array.of(4, 9)
    expect([0, 1, 2, 3].map((s) => Array.from(shareSlice(rows, s, 4)))).toEqual([[4], [9], [], []])
  })

  it("refuses a share outside 0..shares-1", () => {
    const rows = Int32Array.of(1, 2, 3)
    expect(() => shareSlice(rows, 3, 3)).toThrow(RangeError)
    expect(() => shareSlice(rows, -1, 3)).toThrow(RangeError)
    expect(() => shareSlice(rows, 0, 0)).toThrow(RangeError)
  })
})

describe("shardRows", () => {
  it("partitions the training set into fixed, sorted, seeded shards", () => {
    const shards = [0, 1, 2].map((s) => shardRows(100, 5, s, 3))
    expect(shards.map((s) => s.length)).toEqual([34, 33, 33])
    const all = shards.flatMap((s) => Array.from(s)).sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i))
    for (const shard of shards) expect(Array.from(shard)).toEqual(Array.from(shard).sort((a, b) => a - b))
    expect(shardRows(100, 5, 1, 3)).toEqual(shards[1])
    expect(shardRows(100, 6, 1, 3)).not.toEqual(shards[1])
    // Not simply contiguous ranges of the data set.
    expect(shards[0]).not.toEqual(Int32Array.from({ length: 34 }, (_, i) => i))
  })
})
