import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseCsv } from "../../src/data/csv.ts"
import { datasetDigest, decodeDataset, encodeDataset } from "../../src/data/dataset-codec.ts"
import type { Dataset } from "../../src/data/dataset.ts"
import { DataError } from "../../src/data/errors.ts"

const dataset = (rows: number, features: number, x: ArrayLike<number>, y: ArrayLike<number>): Dataset => ({
  rows,
  features,
  x: Float32Array.from(x),
  y: Float32Array.from(y)
})

/** The bytes of a float32 array: equal bytes tell -0 from 0 and compare NaN by its bits. */
const bytesOf = (values: Float32Array): Buffer => Buffer.from(values.buffer, values.byteOffset, values.byteLength)

const expectSame = (a: Dataset, b: Dataset) => {
  expect([b.rows, b.features, b.x.length, b.y.length]).toEqual([a.rows, a.features, a.rows * a.features, a.rows])
  expect(bytesOf(b.x).equals(bytesOf(a.x.subarray(0, a.rows * a.features))), "x bit for bit").toBe(true)
  expect(bytesOf(b.y).equals(bytesOf(a.y)), "y bit for bit").toBe(true)
}

const dataErrorOf = (run: () => unknown): DataError => {
  try {
    run()
  } catch (error) {
    if (error instanceof DataError) return error
    throw error
  }
  throw new Error("expected a DataError")
}

/** The element type codes in the header: x at byte 5, y at byte 6 (1 = uint8, 2 = float32). */
const typesOf = (bytes: Uint8Array) => [bytes[5], bytes[6]]

describe("encodeDataset / decodeDataset", () => {
  it("writes the header: magic, version, types, rows and features little-endian", () => {
    const bytes = encodeDataset(dataset(2, 3, [0, 1, 2, 3, 4, 255], [0, 1]))
    expect(Array.from(bytes.subarray(0, 16))).toEqual([0x44, 0x54, 0x51, 0x44, 1, 1, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0])
    expect(bytes.length).toBe(16 + 6 + 2)
    expect(Array.from(bytes.subarray(16))).toEqual([0, 1, 2, 3, 4, 255, 0, 1])
  })

  it("uint8 for integers 0..255, float32 for anything else, chosen per array", () => {
    const cases: Array<[Array<number>, number]> = [
      [[0, 255, 17], 1],
      [[0, 256, 17], 2],
      [[0, -1, 17], 2],
      [[0, 0.5, 17], 2],
      [[0, -0, 17], 2], // a byte cannot keep the sign of -0
      [[0, Number.NaN, 17], 2],
      [[0, Infinity, 17], 2]
    ]
    for (const [values, code] of cases) {
      expect(typesOf(encodeDataset(dataset(3, 1, values, [0, 1, 2]))), `x ${values}`).toEqual([code, 1])
      expect(typesOf(encodeDataset(dataset(3, 1, [0, 1, 2], values))), `y ${values}`).toEqual([1, code])
    }
    expect(typesOf(encodeDataset(dataset(2, 1, [1, 2], [0.5, 1.5])))).toEqual([1, 2])
    expect(typesOf(encodeDataset(dataset(2, 1, [1.5, 2], [0, 3])))).toEqual([2, 1])
  })

  it("round trips exactly: integers, decimals, negative zero, NaN, infinities, extremes", () => {
    const special = [0, -0, 1.1, -3.4028234663852886e38, 1.401298464324817e-45, Number.NaN, Infinity, -Infinity, 255, 256]
    const samples = [
      dataset(2, 3, [0, 1, 2, 253, 254, 255], [0, 9]),
      dataset(5, 2, special, [0.25, -1, 7, 1e-3, 42]),
      dataset(3, 1, [1, 2, 3], [-0, 0, 1]),
      dataset(0, 4, [], []),
      dataset(3, 0, [], [1, 2, 3])
    ]
    for (const d of samples) expectSame(d, decodeDataset(encodeDataset(d), "sample"))
  })

  it("a float32 y after a uint8 x of odd length decodes (unaligned in the buffer)", () => {
    const d = dataset(3, 1, [1, 2, 3], [0.5, -2.25, 1e10])
    const bytes = encodeDataset(d)
    expect(bytes.length).toBe(16 + 3 + 12)
    expectSame(d, decodeDataset(bytes, "odd"))
    // Also when the encoded bytes sit at an odd offset of a larger buffer.
    const shifted = new Uint8Array(bytes.length + 1)
    shifted.set(bytes, 1)
    expectSame(d, decodeDataset(shifted.subarray(1), "odd"))
  })

  it("encodes only rows x features values of a longer x", () => {
    const d: Dataset = { rows: 1, features: 2, x: Float32Array.of(1, 2, 3, 4), y: Float32Array.of(7) }
    expect(Array.from(decodeDataset(encodeDataset(d), "s").x)).toEqual([1, 2])
  })
})

describe("decodeDataset: bad buffers", () => {
  const good = encodeDataset(dataset(2, 3, [0, 1, 2, 3, 4, 5], [0.5, 1]))
  const withByte = (at: number, value: number) => {
    const copy = Uint8Array.from(good)
    copy[at] = value
    return copy
  }
  const cases: Array<[string, Uint8Array, string]> = [
    ["empty", new Uint8Array(0), "mnist-train is not an encoded data set: 0 bytes, shorter than the 16-byte header"],
    ["shorter than the header", good.subarray(0, 10), "mnist-train is not an encoded data set: 10 bytes, shorter than the 16-byte header"],
    ["no magic", withByte(0, 0x45), "mnist-train is not an encoded data set (no DTQD magic)"],
    ["another version", withByte(4, 2), "mnist-train is in data set format version 2; this dtq reads version 1"],
    ["an unknown x type", withByte(5, 9), "mnist-train is not a readable data set: unknown element type 9 for x"],
    ["an unknown y type", withByte(6, 0), "mnist-train is not a readable data set: unknown element type 0 for y"],
    ["truncated payload", good.subarray(0, good.length - 1), "mnist-train is truncated: 29 bytes, expected 30 for 2 rows x 3 features"],
    ["header only", good.subarray(0, 16), "mnist-train is truncated: 16 bytes, expected 30 for 2 rows x 3 features"],
    ["more rows than bytes", withByte(8, 200), "mnist-train is truncated: 30 bytes, expected 1416 for 200 rows x 3 features"],
    ["trailing bytes", Uint8Array.of(...good, 0), "mnist-train has trailing bytes: 31 bytes, expected 30 for 2 rows x 3 features"]
  ]
  for (const [name, bytes, message] of cases) {
    it(name, () => {
      const error = dataErrorOf(() => decodeDataset(bytes, "mnist-train"))
      expect(error.message).toBe(message)
      expect(error.source).toBe("mnist-train")
    })
  }
})

describe("datasetDigest", () => {
  it("is sha256- and the hex SHA-256 of the bytes", () => {
    const bytes = encodeDataset(dataset(1, 1, [1], [2]))
    expect(datasetDigest(bytes)).toBe(`sha256-${createHash("sha256").update(bytes).digest("hex")}`)
    expect(datasetDigest(new Uint8Array(0))).toBe("sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  })
})

describe("the MNIST training set", () => {
  it("encodes to 6,280,016 bytes (uint8 pixels and labels) and back exactly", () => {
    const source = join(import.meta.dirname, "..", "..", "data", "mnist", "train.csv.gz")
    const d = parseCsv(readFileSync(source), { source, label: "first" })
    const bytes = encodeDataset(d)
    expect(bytes.length).toBe(16 + 8000 * 784 + 8000)
    expect(typesOf(bytes)).toEqual([1, 1])
    expectSame(d, decodeDataset(bytes, "mnist-train"))
  })
})

describe("decoding from a Node Buffer", () => {
  it("reads float32 values from a Buffer at any offset in its pool (a Buffer's slice is a view)", async () => {
    const { encodeDataset, decodeDataset } = await import("../../src/data/dataset-codec.ts")
    const data = { rows: 3, features: 2, x: Float32Array.from([0.5, -1.25, 3.75, 1e6, 2.5, -0.125]), y: Float32Array.from([0.1, 0.2, 0.3]) }
    const encoded = encodeDataset(data)
    // Buffer.from(array) copies into a shared pool at some offset, as NATS clients hand out payloads.
    const pooled = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(encoded)]).subarray(3)
    const decoded = decodeDataset(pooled, "pooled")
    expect([...decoded.x]).toEqual([...data.x])
    expect([...decoded.y]).toEqual([...data.y])
  })
})
