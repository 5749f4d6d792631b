// The data dtq ships (data/ beside src/, found from this module, so an installed package finds it whatever
// the current directory), and the Java predecessor's names for it: its docs and demo lines read
// `file:./data/train.csv` and `file:./data/mnist_test.csv`, Kaggle's layout with a `label,pixel0,..` header.
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { gunzipSync } from "node:zlib"
import { fileURLToPath } from "node:url"
import { join } from "node:path"

/** dtq's shipped data folder (data/mnist/README.md says what is in it). */
export const SHIPPED_DATA_DIR = fileURLToPath(new URL("../../data/", import.meta.url))
export const SHIPPED_MNIST_TRAIN = join(SHIPPED_DATA_DIR, "mnist", "train.csv.gz")
export const SHIPPED_MNIST_TEST = join(SHIPPED_DATA_DIR, "mnist", "test.csv.gz")

/** The Kaggle MNIST header: the label, then pixel0..pixel783. */
const KAGGLE_HEADER = ["label", ...Array.from({ length: 784 }, (_, i) => `pixel${i}`)].join(",")

/** The predecessor's file names for the shipped MNIST subset (matched on the file name, any case). */
const PREDECESSOR_NAMES: Record<string, string> = {
  "train.csv": SHIPPED_MNIST_TRAIN,
  "mnist_train.csv": SHIPPED_MNIST_TRAIN,
  "test.csv": SHIPPED_MNIST_TEST,
  "mnist_test.csv": SHIPPED_MNIST_TEST
}

/** A shipped file standing in for a relative path that does not exist, and how to read it. */
export type ShippedFile = { readonly absolute: string; readonly read: () => Promise<Uint8Array> }

/**
 * Where a relative path that does not exist is looked up in the shipped data folder: `data/mnist/x` and
 * `mnist/x` as the folder's own `mnist/x`; a bare name or one under `data/` (or `data/mnist/`) that the
 * predecessor used (`train.csv`, `mnist_test.csv`) as the MNIST subset with its Kaggle header, so that
 * `hasHeader=true` reads it as the predecessor's file was read.
 */
export const shippedFallback = (written: string): ShippedFile | undefined => {
  const relative = written.replace(/\\/g, "/").replace(/^(\.\/)+/, "")
  if (relative.startsWith("/") || relative.startsWith("../") || relative === "") return undefined
  const inFolder = relative.startsWith("data/") ? relative.slice("data/".length) : relative
  const own = join(SHIPPED_DATA_DIR, inFolder)
  if (!inFolder.split("/").includes("..") && existsSync(own)) return { absolute: own, read: () => readBytes(own) }
  const slash = inFolder.lastIndexOf("/")
  const folder = inFolder.slice(0, slash + 1)
  const alias = PREDECESSOR_NAMES[inFolder.slice(slash + 1).toLowerCase()]
  if (alias === undefined || (folder !== "" && folder !== "mnist/")) return undefined
  return { absolute: alias, read: async () => withHeader(await readBytes(alias)) }
}

const readBytes = async (path: string): Promise<Uint8Array> => {
  const buffer = await readFile(path)
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

/** The shipped CSV (gzip, no header) as the predecessor's Kaggle-layout text: a header line, then the rows. */
const withHeader = (gzipped: Uint8Array): Uint8Array => {
  const rows = gunzipSync(gzipped)
  const header = new TextEncoder().encode(`${KAGGLE_HEADER}\n`)
  const out = new Uint8Array(header.length + rows.length)
  out.set(header, 0)
  out.set(rows, header.length)
  return out
}
