// Whole-vector arithmetic on flat parameter and gradient vectors.

const sameLength = (a: Float32Array, b: Float32Array): void => {
  if (a.length !== b.length) throw new RangeError(`vector lengths differ: ${a.length} vs ${b.length}`)
}

/** One SGD step on the mean gradient: params -= lr * gradSum / count. No-op when count is 0. */
export const sgdStep = (params: Float32Array, gradSum: Float32Array, count: number, lr: number): void => {
  sameLength(params, gradSum)
  if (count <= 0) return
  const factor = lr / count
  for (let i = 0; i < params.length; i++) params[i]! -= factor * gradSum[i]!
}

/** a += b, in place. */
export const addInto = (a: Float32Array, b: Float32Array): Float32Array => {
  sameLength(a, b)
  for (let i = 0; i < a.length; i++) a[i]! += b[i]!
  return a
}

/** a *= factor, in place. */
export const scaleInto = (a: Float32Array, factor: number): Float32Array => {
  for (let i = 0; i < a.length; i++) a[i]! *= factor
  return a
}

/** A new vector a - b (e.g. the parameter delta of a round of local training). */
export const subtract = (a: Float32Array, b: Float32Array): Float32Array => {
  sameLength(a, b)
  const out = new Float32Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!
  return out
}
