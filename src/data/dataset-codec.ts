// A Dataset as compact bytes, to travel through the NATS Object Store, and the digest that names those bytes.
//
// Layout (little-endian):
//   0  4  magic "DTQD"
//   4  1  format version (1)
//   5  1  element type of x: 1 = uint8, 2 = float32
//   6  1  element type of y: same codes
//   7  1  reserved, 0
//   8  4  rows (uint32)
//  12  4  features (uint32)
//  16     x: rows * features elements, row-major; then y: rows elements
// Each array takes the smallest type that holds every value exactly: MNIST pixels (0..255) take one byte.
import { createHash } from "node:crypto"
import type { Dataset } from "./dataset.ts"
import { DataError } from "./errors.ts"

const MAGIC = [0x44, 0x54, 0x51, 0x44] // "DTQD"
const VERSION = 1
const HEADER_BYTES = 16

const ELEMENT_TYPES = { uint8: 1, float32: 2 } as const
type ElementType = keyof typeof ELEMENT_TYPES
const BYTES_PER_ELEMENT: Record<ElementType, number> = { uint8: 1, float32: 4 }

export const encodeDataset = (data: Dataset): Uint8Array => {
  const xCount = data.rows * data.features
  const x = data.x.subarray(0, xCount)
  const y = data.y.subarray(0, data.rows)
  const xType = smallestExactType(x)
  const yType = smallestExactType(y)
  const xBytes = xCount * BYTES_PER_ELEMENT[xType]
  const out = new Uint8Array(HEADER_BYTES + xBytes + data.rows * BYTES_PER_ELEMENT[yType])
  const header = new DataView(out.buffer)
  out.set(MAGIC, 0)
  header.setUint8(4, VERSION)
  header.setUint8(5, ELEMENT_TYPES[xType])
  header.setUint8(6, ELEMENT_TYPES[yType])
  header.setUint32(8, data.rows, true)
  header.setUint32(12, data.features, true)
  writeElements(x, xType, out, HEADER_BYTES)
  writeElements(y, yType, out, HEADER_BYTES + xBytes)
  return out
}

/** The Dataset in `bytes`; `source` (the object or file name) names it in a DataError when the bytes are not one. */
export const decodeDataset = (bytes: Uint8Array, source: string): Dataset => {
  if (bytes.length < HEADER_BYTES) {
    throw new DataError(source, `is not an encoded data set: ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`)
  }
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw new DataError(source, "is not an encoded data set (no DTQD magic)")
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES)
  const version = header.getUint8(4)
  if (version !== VERSION) {
    throw new DataError(source, `is in data set format version ${version}; this dtq reads version ${VERSION}`)
  }
  const xType = elementTypeOf(header.getUint8(5), "x", source)
  const yType = elementTypeOf(header.getUint8(6), "y", source)
  const rows = header.getUint32(8, true)
  const features = header.getUint32(12, true)
  const xBytes = rows * features * BYTES_PER_ELEMENT[xType]
  const expected = HEADER_BYTES + xBytes + rows * BYTES_PER_ELEMENT[yType]
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? "is truncated" : "has trailing bytes"
    throw new DataError(source, `${what}: ${bytes.length} bytes, expected ${expected} for ${rows} rows x ${features} features`)
  }
  return {
    rows,
    features,
    x: readElements(bytes, HEADER_BYTES, rows * features, xType),
    y: readElements(bytes, HEADER_BYTES + xBytes, rows, yType)
  }
}

/** "sha256-" and the hex SHA-256 of the bytes: the name of a data set's content. */
export const datasetDigest = (bytes: Uint8Array): string => `sha256-${createHash("sha256").update(bytes).digest("hex")}`

/** uint8 when every value is an integer in 0..255 (and not -0, which a byte would turn into +0). */
const smallestExactType = (values: Float32Array): ElementType => {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number
    if (v !== (v & 255) || Object.is(v, -0)) return "float32"
  }
  return "uint8"
}

const elementTypeOf = (code: number, array: string, source: string): ElementType => {
  const found = (Object.keys(ELEMENT_TYPES) as Array<ElementType>).find((type) => ELEMENT_TYPES[type] === code)
  if (found === undefined) throw new DataError(source, `is not a readable data set: unknown element type ${code} for ${array}`)
  return found
}

// Float32 payloads are copied byte for byte (NaN payloads and -0 included), swapped on a big-endian host.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

const writeElements = (values: Float32Array, type: ElementType, out: Uint8Array, offset: number): void => {
  if (type === "uint8") {
    out.set(values, offset) // exact: every value is an integer in 0..255
    return
  }
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset)
  if (!LITTLE_ENDIAN_HOST) swapWords(out.subarray(offset, offset + values.byteLength))
}

const readElements = (bytes: Uint8Array, offset: number, count: number, type: ElementType): Float32Array => {
  if (type === "uint8") {
    const values = new Float32Array(count)
    values.set(bytes.subarray(offset, offset + count))
    return values
  }
  // A fresh, aligned buffer (a Buffer's slice would be a view into a shared pool, not a copy).
  const copy = new Uint8Array(count * 4)
  copy.set(bytes.subarray(offset, offset + count * 4))
  if (!LITTLE_ENDIAN_HOST) swapWords(copy)
  return new Float32Array(copy.buffer, 0, count)
}

const swapWords = (bytes: Uint8Array): void => {
  for (let i = 0; i + 3 < bytes.length; i += 4) {
    const a = bytes[i] as number
    const b = bytes[i + 1] as number
    bytes[i] = bytes[i + 3] as number
    bytes[i + 1] = bytes[i + 2] as number
    bytes[i + 2] = b
    bytes[i + 3] = a
  }
}
