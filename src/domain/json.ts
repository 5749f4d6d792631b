// What JSON can carry, checked before a value goes on the wire: JSON.stringify would silently turn a
// function or NaN inside an array into null, and drop them inside objects.

export type JsonProblem = { readonly path: string; readonly reason: string }

/** UTF-8 bytes of a value as JSON text (of a value jsonProblem passed). */
export const jsonByteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value ?? null))

/** The first part of `value` that is not JSON (its path from `path`, and why); undefined when it all is. */
export const jsonProblem = (value: unknown, path = "", depth = 0, ancestors: object[] = []): JsonProblem | undefined => {
  if (depth > 200) return { path: path.length > 80 ? `${path.slice(0, 80)}...` : path, reason: "is nested more than 200 levels deep" }
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : { path, reason: `is ${value}, which JSON cannot hold` }
    case "object": {
      if (value === null) return undefined
      if (ancestors.includes(value)) return { path, reason: "refers back to itself (a cycle), which JSON cannot hold" }
      ancestors.push(value)
      try {
        return Array.isArray(value) ? arrayProblem(value, path, depth, ancestors) : objectProblem(value, path, depth, ancestors)
      } finally {
        ancestors.pop()
      }
    }
    case "undefined":
      return { path, reason: "is undefined, which JSON cannot hold" }
    default:
      return { path, reason: `is a ${typeof value}, which JSON cannot hold` }
  }
}

const arrayProblem = (value: unknown[], path: string, depth: number, ancestors: object[]): JsonProblem | undefined => {
  for (let i = 0; i < value.length; i++) {
    const problem = jsonProblem(value[i], `${path}[${i}]`, depth + 1, ancestors)
    if (problem !== undefined) return problem
  }
  return undefined
}

const objectProblem = (value: object, path: string, depth: number, ancestors: object[]): JsonProblem | undefined => {
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    return { path, reason: `is a ${value.constructor?.name ?? "non-plain object"}, not plain JSON data` }
  }
  for (const [key, inner] of Object.entries(value)) {
    if (inner === undefined) continue // dropped by JSON, as an absent optional key
    const problem = jsonProblem(inner, path === "" ? key : `${path}.${key}`, depth + 1, ancestors)
    if (problem !== undefined) return problem
  }
  return undefined
}
