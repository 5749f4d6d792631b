import { inflateSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { crc32, divergingColour, encodeGrayPng, encodeRgbPng, tableCrc32, weightsImage } from "../../src/reports/png.ts"
import type { WeightsShape } from "../../src/reports/training-report.ts"

type Chunk = { type: string; data: Uint8Array; crcValid: boolean }

/** Splits a PNG into its chunks, checking each CRC with the table implementation. */
const chunks = (png: Uint8Array): Chunk[] => {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength)
  const out: Chunk[] = []
  let at = 8
  while (at < png.length) {
    const length = view.getUint32(at)
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8))
    const data = png.subarray(at + 8, at + 8 + length)
    const crc = view.getUint32(at + 8 + length)
    out.push({ type, data, crcValid: tableCrc32(png.subarray(at + 4, at + 8 + length)) === crc })
    at += 12 + length
  }
  return out
}

const header = (png: Uint8Array) => {
  const ihdr = chunks(png).find((c) => c.type === "IHDR")?.data as Uint8Array
  const view = new DataView(ihdr.buffer, ihdr.byteOffset, ihdr.byteLength)
  return { width: view.getUint32(0), height: view.getUint32(4), depth: ihdr[8], colour: ihdr[9], rest: [...ihdr.subarray(10)] }
}

const pixelData = (png: Uint8Array): Uint8Array => {
  const idat = chunks(png).filter((c) => c.type === "IDAT")
  return new Uint8Array(inflateSync(Buffer.concat(idat.map((c) => c.data))))
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

describe("crc32", () => {
  it("is the PNG (ISO-HDLC) CRC, by zlib and by table alike", () => {
    const check = new TextEncoder().encode("123456789")
    expect(crc32(check)).toBe(0xcbf43926)
    expect(tableCrc32(check)).toBe(0xcbf43926)
    expect(tableCrc32(new Uint8Array(0))).toBe(0)
    const noise = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff)
    expect(tableCrc32(noise)).toBe(crc32(noise))
  })
})

describe("encodeGrayPng", () => {
  const pixels = Uint8Array.of(0, 50, 100, 150, 200, 255)
  const png = encodeGrayPng(3, 2, pixels)

  it("starts with the signature and has IHDR, IDAT, IEND with valid CRCs", () => {
    expect([...png.subarray(0, 8)]).toEqual(SIGNATURE)
    const all = chunks(png)
    expect(all.map((c) => c.type)).toEqual(["IHDR", "IDAT", "IEND"])
    expect(all.every((c) => c.crcValid)).toBe(true)
    expect(all[2]?.data.length).toBe(0)
  })

  it("IHDR: width, height, 8-bit grayscale, no interlace", () => {
    expect(header(png)).toEqual({ width: 3, height: 2, depth: 8, colour: 0, rest: [0, 0, 0] })
  })

  it("IDAT inflates to one filter byte (0) then the row, per row", () => {
    expect([...pixelData(png)]).toEqual([0, 0, 50, 100, 0, 150, 200, 255])
  })

  it("refuses pixels that do not fit the size", () => {
    expect(() => encodeGrayPng(3, 2, new Uint8Array(5))).toThrow("a 3x2 image needs 6 bytes, got 5")
    expect(() => encodeGrayPng(0, 2, new Uint8Array(0))).toThrow("bad image size 0x2")
    expect(() => encodeGrayPng(1.5, 2, new Uint8Array(3))).toThrow("bad image size")
  })
})

describe("encodeRgbPng", () => {
  it("8-bit RGB: colour type 2, three bytes per pixel", () => {
    const rgb = Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30)
    const png = encodeRgbPng(2, 2, rgb)
    expect([...png.subarray(0, 8)]).toEqual(SIGNATURE)
    expect(chunks(png).every((c) => c.crcValid)).toBe(true)
    expect(header(png)).toEqual({ width: 2, height: 2, depth: 8, colour: 2, rest: [0, 0, 0] })
    expect([...pixelData(png)]).toEqual([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30])
    expect(() => encodeRgbPng(2, 2, new Uint8Array(4))).toThrow("a 2x2 image needs 12 bytes, got 4")
  })
})

describe("divergingColour", () => {
  it("blue for negative, white for zero, red for positive", () => {
    expect(divergingColour(-1)).toEqual([0, 0, 255])
    expect(divergingColour(0)).toEqual([255, 255, 255])
    expect(divergingColour(1)).toEqual([255, 0, 0])
    expect(divergingColour(0.5)).toEqual([255, 128, 128])
    expect(divergingColour(-0.25)).toEqual([191, 191, 255])
    expect(divergingColour(Number.NaN)).toEqual([0, 0, 0])
  })
})

describe("weightsImage", () => {
  const rgbAt = (image: { width: number; rgb: Uint8Array }, x: number, y: number) => [...image.rgb.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3)]

  it("softmax on 784 inputs: ten 28x28 tiles scaled 4x, 2-pixel gaps, each scaled by its own max |w|", () => {
    const shape: WeightsShape = { model: "softmax", features: 784, outputs: 10, hidden: 0 }
    const weights = new Float32Array(784 * 10 + 10)
    const w = (input: number, cls: number, value: number) => (weights[input * 10 + cls] = value)
    w(0, 0, 2) // class 0: pixel (0, 0) is its largest weight
    w(1, 0, -1) // pixel (1, 0): half of it, negative
    w(28 + 2, 3, -0.5) // class 3: pixel (2, 1), its only weight
    weights[784 * 10 + 0] = 100 // biases are not drawn
    const image = weightsImage(shape, weights)
    expect(image.width).toBe(10 * 112 + 9 * 2)
    expect(image.height).toBe(112)
    expect(image.rgb.length).toBe(image.width * image.height * 3)
    for (const [x, y] of [[0, 0], [3, 3]]) expect(rgbAt(image, x as number, y as number)).toEqual([255, 0, 0])
    for (const [x, y] of [[4, 0], [7, 3]]) expect(rgbAt(image, x as number, y as number)).toEqual([128, 128, 255])
    expect(rgbAt(image, 8, 0)).toEqual([255, 255, 255])
    expect(rgbAt(image, 112, 0)).toEqual([255, 255, 255]) // the gap
    expect(rgbAt(image, 113, 50)).toEqual([255, 255, 255])
    const tile3 = 3 * (112 + 2)
    expect(rgbAt(image, tile3 + 8, 4)).toEqual([0, 0, 255])
    expect(rgbAt(image, tile3 + 11, 7)).toEqual([0, 0, 255])
    expect(rgbAt(image, tile3 + 12, 4)).toEqual([255, 255, 255])
    expect(rgbAt(image, 114, 0)).toEqual([255, 255, 255]) // class 1: all zero, all white
  })

  it("logreg and linreg: one tile", () => {
    const image = weightsImage({ model: "logreg", features: 784, outputs: 1, hidden: 0 }, new Float32Array(785))
    expect([image.width, image.height]).toEqual([112, 112])
  })

  it("mlp: the first 16 hidden units' input weights", () => {
    const shape: WeightsShape = { model: "mlp", features: 784, outputs: 10, hidden: 20 }
    const weights = new Float32Array(784 * 20 + 20 + 20 * 10 + 10)
    weights[5 * 20 + 15] = -3 // unit 15 (the last drawn), input 5
    weights[5 * 20 + 16] = 3 // unit 16: not drawn
    const image = weightsImage(shape, weights)
    expect([image.width, image.height]).toEqual([16 * 112 + 15 * 2, 112])
    expect(rgbAt(image, 15 * 114 + 5 * 4, 0)).toEqual([0, 0, 255])
    expect(weightsImage({ ...shape, hidden: 3 }, new Float32Array(784 * 3 + 3 + 3 * 10 + 10)).width).toBe(3 * 112 + 2 * 2)
  })

  it("shows a diverged weight in black", () => {
    const weights = new Float32Array(785)
    weights[0] = Number.NaN
    weights[1] = 1
    const image = weightsImage({ model: "linreg", features: 784, outputs: 1, hidden: 0 }, weights)
    expect(rgbAt(image, 0, 0)).toEqual([0, 0, 0])
    expect(rgbAt(image, 4, 0)).toEqual([255, 0, 0])
  })

  it("refuses inputs that are not a square picture, and weights of the wrong size", () => {
    expect(() => weightsImage({ model: "softmax", features: 10, outputs: 3, hidden: 0 }, new Float32Array(33))).toThrow("10 inputs are not a square image")
    expect(() => weightsImage({ model: "softmax", features: 784, outputs: 10, hidden: 0 }, new Float32Array(10))).toThrow("model softmax has 7850 parameters, got 10")
  })

  it("encodes as a PNG whose IDAT holds height x (1 + 3 width) bytes", () => {
    const weights = new Float32Array(785).map((_, i) => (i % 3) - 1)
    const image = weightsImage({ model: "logreg", features: 784, outputs: 1, hidden: 0 }, weights)
    const png = encodeRgbPng(image.width, image.height, image.rgb)
    expect(chunks(png).every((c) => c.crcValid)).toBe(true)
    const raw = pixelData(png)
    expect(raw.length).toBe(112 * (1 + 112 * 3))
    // Row 0: filter byte, then input 0 (w = -1: blue) for 4 pixels, then input 1 (w = 0: white).
    expect([...raw.subarray(0, 1 + 3 * 5)]).toEqual([0, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 255, 255, 255])
  })
})
