// A minimal PNG encoder (8-bit grayscale or RGB, no interlace, filter 0 on every row) on node:zlib, and
// the picture of a model's input weights: one tile per output class (or hidden unit), so that one can
// see what each class "looks for". Pure: returns bytes, writes nothing.
import * as zlib from "node:zlib"
import { layoutOf } from "../training/shape.ts"
import type { WeightsShape } from "./training-report.ts"

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)

// zlib.crc32 arrived in Node 20.15 / 22.2; older Nodes (package.json allows >= 20) get a table CRC.
let table: Uint32Array | undefined
export const tableCrc32 = (bytes: Uint8Array): number => {
  if (table === undefined) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
  }
  let crc = 0xffffffff
  for (const byte of bytes) crc = (table[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

export const crc32 = (bytes: Uint8Array): number => (typeof zlib.crc32 === "function" ? zlib.crc32(bytes) >>> 0 : tableCrc32(bytes))

/** length, type, data, CRC of type + data. */
const chunk = (type: string, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(12 + data.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, data.length)
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i)
  out.set(data, 8)
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)))
  return out
}

const encode = (width: number, height: number, pixels: Uint8Array, channels: 1 | 3): Uint8Array => {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) {
    throw new RangeError(`bad image size ${width}x${height}`)
  }
  const stride = width * channels
  if (pixels.length !== stride * height) throw new RangeError(`a ${width}x${height} image needs ${stride * height} bytes, got ${pixels.length}`)
  const header = new Uint8Array(13)
  const view = new DataView(header.buffer)
  view.setUint32(0, width)
  view.setUint32(4, height)
  header[8] = 8 // bit depth
  header[9] = channels === 1 ? 0 : 2 // colour type: grayscale or RGB
  // compression 0, filter method 0, interlace 0: already zero
  const raw = new Uint8Array(height * (1 + stride)) // each row: filter byte 0 (none), then the row
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (1 + stride) + 1)
  const parts = [SIGNATURE, chunk("IHDR", header), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", new Uint8Array(0))]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** 8-bit grayscale, one byte per pixel, rows top to bottom. */
export const encodeGrayPng = (width: number, height: number, pixels: Uint8Array): Uint8Array => encode(width, height, pixels, 1)

/** 8-bit RGB, three bytes per pixel, rows top to bottom. */
export const encodeRgbPng = (width: number, height: number, rgb: Uint8Array): Uint8Array => encode(width, height, rgb, 3)

export type RgbImage = { readonly width: number; readonly height: number; readonly rgb: Uint8Array }

export const TILE_SCALE = 4
export const TILE_GAP = 2
/** The mlp has many hidden units; the picture shows the first few. */
export const MAX_HIDDEN_TILES = 16

/**
 * Diverging colour for t in [-1, 1]: blue (-1), white (0), red (+1). A value that is not finite (a
 * diverged model) is black, so it shows instead of passing for zero.
 */
export const divergingColour = (t: number): [number, number, number] => {
  if (!Number.isFinite(t)) return [0, 0, 0]
  const fade = Math.round(255 * (1 - Math.min(1, Math.abs(t))))
  return t >= 0 ? [255, fade, fade] : [fade, fade, 255]
}

/**
 * The input weights of each output class (linear models) or of the first 16 hidden units (mlp) as
 * square tiles (28x28 for MNIST's 784 inputs, pixel i at row i / 28, column i % 28), scaled up 4x,
 * in one strip with 2-pixel white gaps. Each tile's colours are symmetric around 0, scaled by its
 * largest |w|. Needs a square number of inputs.
 */
export const weightsImage = (shape: WeightsShape, weights: Float32Array): RgbImage => {
  const side = Math.round(Math.sqrt(shape.features))
  if (side * side !== shape.features) throw new RangeError(`${shape.features} inputs are not a square image`)
  const layout = layoutOf({ kind: shape.model, features: shape.features, outputs: shape.outputs, hidden: shape.hidden })
  if (weights.length !== layout.size) throw new RangeError(`model ${shape.model} has ${layout.size} parameters, got ${weights.length}`)
  // First-layer weights are input-major: unit u's weight of input i is at i * width + u.
  const width = shape.model === "mlp" ? shape.hidden : shape.outputs
  const tiles = shape.model === "mlp" ? Math.min(MAX_HIDDEN_TILES, shape.hidden) : shape.outputs
  const tile = side * TILE_SCALE
  const image = { width: tiles * tile + (tiles - 1) * TILE_GAP, height: tile }
  const rgb = new Uint8Array(image.width * image.height * 3).fill(255)
  for (let u = 0; u < tiles; u++) {
    let max = 0
    for (let i = 0; i < shape.features; i++) {
      const w = Math.abs(weights[layout.w1 + i * width + u] as number)
      if (Number.isFinite(w) && w > max) max = w
    }
    const left = u * (tile + TILE_GAP)
    for (let i = 0; i < shape.features; i++) {
      const w = weights[layout.w1 + i * width + u] as number
      const colour = divergingColour(max === 0 ? 0 * w : w / max) // 0 * w keeps NaN and Infinity visible
      const top = Math.floor(i / side) * TILE_SCALE
      const x0 = left + (i % side) * TILE_SCALE
      for (let dy = 0; dy < TILE_SCALE; dy++) {
        for (let dx = 0; dx < TILE_SCALE; dx++) rgb.set(colour, ((top + dy) * image.width + x0 + dx) * 3)
      }
    }
  }
  return { ...image, rgb }
}
