// Rendering of chart specs: Vega-Lite -> SVG (vega, headless), SVG -> PNG (resvg). PNG text is drawn
// with explicit DejaVu Sans files, never with whatever fonts the system has, so pictures are the same
// on every machine and text never silently disappears.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Resvg, type ResvgRenderOptions } from "@resvg/resvg-js"
import * as vega from "vega"
import { compile, type TopLevelSpec } from "vega-lite"

export const DEFAULT_FONT_DIR = "/usr/share/fonts/truetype/dejavu"
export const FONT_FILES = { regular: "DejaVuSans.ttf", bold: "DejaVuSans-Bold.ttf" } as const

export type FontSet = { readonly regular: string; readonly bold: string }

/** The DejaVu Sans files, in DTQ_FONT_DIR if set, else the Debian location; throws naming where it looked. */
export const findFonts = (env: NodeJS.ProcessEnv = process.env): FontSet => {
  const dir = env["DTQ_FONT_DIR"] !== undefined && env["DTQ_FONT_DIR"] !== "" ? env["DTQ_FONT_DIR"] : DEFAULT_FONT_DIR
  const fonts = { regular: join(dir, FONT_FILES.regular), bold: join(dir, FONT_FILES.bold) }
  const missing = [fonts.regular, fonts.bold].filter((path) => !existsSync(path))
  if (missing.length > 0) {
    throw new Error(
      `charts need the DejaVu Sans fonts, not found: ${missing.join(", ")}; ` +
        "install the Debian package fonts-dejavu-core or set DTQ_FONT_DIR to a directory holding DejaVuSans.ttf and DejaVuSans-Bold.ttf"
    )
  }
  return fonts
}

/** Vega-Lite spec -> SVG text. Headless: vega lays text out with its own width estimate. */
export const renderSvg = async (spec: object): Promise<string> => {
  const compiled = compile(spec as TopLevelSpec)
  const view = new vega.View(vega.parse(compiled.spec), { renderer: "none" })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

const resvgOptions = (fonts: FontSet, scale: number): ResvgRenderOptions => ({
  font: { fontFiles: [fonts.regular, fonts.bold], loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  fitTo: { mode: "zoom", value: scale },
  background: "white"
})

/** SVG -> PNG bytes, `scale` times the SVG's size. */
export const renderPng = (svg: string, fonts: FontSet, scale = 2): Uint8Array =>
  new Resvg(svg, resvgOptions(fonts, scale)).render().asPng()

export type RgbaImage = { readonly width: number; readonly height: number; readonly rgba: Uint8Array }

/** SVG -> raw RGBA pixels (rows top to bottom), rendered exactly like renderPng: for checks and tests. */
export const renderRgba = (svg: string, fonts: FontSet, scale = 2): RgbaImage => {
  const image = new Resvg(svg, resvgOptions(fonts, scale)).render()
  return { width: image.width, height: image.height, rgba: image.pixels }
}

/**
 * Pixels darker than `threshold` (mean of R, G, B) in rows [top, bottom): text is dark on the white
 * background, so rendering a chart with and without a title and comparing the title band shows whether
 * text was really drawn.
 */
export const darkPixels = (image: RgbaImage, top = 0, bottom = image.height, threshold = 128): number => {
  let count = 0
  const from = Math.max(0, top) * image.width * 4
  const to = Math.min(image.height, bottom) * image.width * 4
  for (let i = from; i < to; i += 4) {
    const mean = ((image.rgba[i] ?? 255) + (image.rgba[i + 1] ?? 255) + (image.rgba[i + 2] ?? 255)) / 3
    if (mean < threshold) count++
  }
  return count
}
