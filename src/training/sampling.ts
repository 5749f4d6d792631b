// Seeded randomness and the cut of a training set into epochs, mini-batches, shares and shards.
// Everything here depends only on its arguments, so the coordinator and every worker derive the
// same rows for the same (seed, epoch, batch, share) without exchanging them.

/** Mixes two 32-bit integers into one well-spread seed (a murmur3-style finalizer over the pair). */
export const mixSeeds = (a: number, b: number): number => {
  let h = Math.imul((a | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ (b | 0)
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d)
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
  return (h ^ (h >>> 16)) >>> 0
}

/** A small, fast PRNG (splitmix32): floats in [0, 1), a sequence determined by the seed alone. */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) | 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
    return ((z ^ (z >>> 15)) >>> 0) / 4294967296
  }
}

/** Shuffles `array` in place (Fisher–Yates) with the given generator. */
const shuffleInPlace = (array: Int32Array, random: () => number): Int32Array => {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = array[i] as number
    array[i] = array[j] as number
    array[j] = swap
  }
  return array
}

/** The row order of one epoch: a permutation of 0..rows-1 that depends only on (seed, epoch). */
export const epochOrder = (rows: number, seed: number, epoch: number): Int32Array => {
  const order = new Int32Array(rows)
  for (let i = 0; i < rows; i++) order[i] = i
  return shuffleInPlace(order, seededRandom(mixSeeds(seed, epoch)))
}

/** Mini-batches per epoch; the last one holds the remainder and may be shorter. */
export const batchesPerEpoch = (rows: number, batchSize: number): number => {
  if (!(batchSize >= 1)) throw new RangeError(`batchSize must be >= 1, got ${batchSize}`)
  return Math.ceil(rows / batchSize)
}

/** The rows of mini-batch `batch` of an epoch order: a view into `order`, not a copy. */
export const batchRows = (order: Int32Array, batch: number, batchSize: number): Int32Array => {
  const start = Math.min(batch * batchSize, order.length)
  return order.subarray(start, Math.min(start + batchSize, order.length))
}

/**
 * Share `share` of `shares` contiguous, near-equal slices of `rows` (a view): the first
 * `rows.length % shares` slices are one row longer, so every row is in exactly one share.
 * A share is empty when there are fewer rows than shares.
 */
export const shareSlice = (rows: Int32Array, share: number, shares: number): Int32Array => {
  if (!(shares >= 1) || share < 0 || share >= shares) throw new RangeError(`share ${share} of ${shares}`)
  const base = Math.floor(rows.length / shares)
  const extra = rows.length % shares
  const start = share * base + Math.min(share, extra)
  return rows.subarray(start, start + base + (share < extra ? 1 : 0))
}

// Keeps the shard partition independent of the epoch orders drawn from the same seed.
const SHARD_SALT = 0x5eed5a17

/**
 * The training rows of shard `share` of `shares` (avg mode): a fixed seeded partition of 0..rows-1,
 * the same for every round. Sorted ascending, which keeps row reads in memory order.
 */
export const shardRows = (rows: number, seed: number, share: number, shares: number): Int32Array => {
  const order = epochOrder(rows, mixSeeds(seed, SHARD_SALT), 0)
  return shareSlice(order, share, shares).slice().sort()
}
