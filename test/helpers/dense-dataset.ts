// A dense CSV data set whose rows cost real work (labels 0..9, pixel-like features 0..255), made from a fixed
// seed so every run predicts the same rows: the fair-sharing test and its benchmark (bench/inference.ts fair).
import { writeFileSync } from "node:fs"
import { join } from "node:path"

/** Writes `dir/dense.csv` with `rows` rows of a label and `features` features; returns its path. */
export const writeDenseDataset = (dir: string, rows: number, features: number): string => {
  let seed = 12345
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const lines: string[] = []
  for (let r = 0; r < rows; r++) {
    const cells = [String(Math.floor(random() * 10))]
    for (let f = 0; f < features; f++) cells.push(String(Math.floor(random() * 256)))
    lines.push(cells.join(","))
  }
  const path = join(dir, "dense.csv")
  writeFileSync(path, lines.join("\n") + "\n")
  return path
}
