// The file-system edge of the data layer: a data reference (paths, file: URLs, lists, wildcards) to bytes.
import { existsSync } from "node:fs"
import { readdir, readFile, stat } from "node:fs/promises"
import { isAbsolute, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { DataError } from "./errors.ts"
import type { CsvFile } from "./csv.ts"
import { SHIPPED_DATA_DIR, shippedFallback } from "./shipped.ts"

/**
 * Reads the files a data reference names, in order. A reference is a comma-separated list of entries,
 * each a path relative to `cwd`, `file:relative/path` or `file:///absolute/path`, whose last segment may
 * hold `*` and `?` wildcards (matches in natural order: train2 before train10). A relative path that does
 * not exist is looked up in dtq's shipped data folder (as the Java predecessor fell back to its data
 * folders; src/data/shipped.ts). Each file's `source` is its path as written, so errors name what the user typed.
 */
export const readDataFiles = async (ref: string, cwd: string = process.cwd()): Promise<Array<CsvFile>> => {
  const entries = ref.split(",").map((entry) => entry.trim())
  if (entries.some((entry) => entry === "")) {
    const reference = `data reference ${JSON.stringify(ref)}`
    throw new DataError(reference, entries.length === 1 ? "names no file" : "has an empty entry between commas")
  }
  const files: Array<CsvFile> = []
  for (const entry of entries) {
    for (const path of await expandEntry(entry, cwd)) files.push({ source: path.written, bytes: await readOne(path) })
  }
  return files
}

/**
 * Whether a reference names local files rather than an object-store name like `mnist-train`: it has a path
 * separator, starts with `.` or `file:`, has a wildcard, or names an existing file (any entry of a list).
 */
export const isLocalRef = (ref: string, cwd: string = process.cwd()): boolean =>
  ref
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .some((entry) => /[/\\*?]/.test(entry) || entry.startsWith(".") || entry.startsWith("file:") || existsSync(resolve(cwd, entry)))

/** A path as the user wrote it (file: prefix removed) and where it is. */
type LocalPath = { readonly written: string; readonly absolute: string }

const expandEntry = async (entry: string, cwd: string): Promise<Array<LocalPath>> => {
  const written = pathOfEntry(entry)
  const lastSeparator = Math.max(written.lastIndexOf("/"), written.lastIndexOf("\\"))
  const directory = written.slice(0, lastSeparator + 1)
  const name = written.slice(lastSeparator + 1)
  if (/[*?]/.test(directory)) throw new DataError(written, "has a wildcard outside its last path segment; only the file name may have * or ?")
  if (!/[*?]/.test(name)) return [{ written, absolute: resolve(cwd, written) }]
  const matches = await matchingFiles(resolve(cwd, directory === "" ? "." : directory), name, written)
  if (matches.length === 0) throw new DataError(written, "matches no file")
  return matches.map((match) => ({ written: directory + match, absolute: resolve(cwd, directory + match) }))
}

const pathOfEntry = (entry: string): string => {
  if (entry.startsWith("file://")) {
    try {
      return fileURLToPath(entry)
    } catch (error) {
      throw new DataError(entry, `is not a usable file URL: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  return entry.startsWith("file:") ? entry.slice("file:".length) : entry
}

/** Names of regular files in `directory` matching the wildcard `pattern`, in natural order. */
const matchingFiles = async (directory: string, pattern: string, written: string): Promise<Array<string>> => {
  let names: Array<string>
  try {
    names = await readdir(directory)
  } catch (error) {
    const code = errorCode(error)
    if (code === "ENOENT" || code === "ENOTDIR") throw new DataError(written, "matches no file: its directory does not exist")
    throw new DataError(written, `cannot be expanded: its directory cannot be listed (${describeFsError(error)})`)
  }
  const matcher = wildcardRegExp(pattern)
  const files: Array<string> = []
  for (const name of names.filter((n) => matcher.test(n))) {
    // Directories are skipped; a broken link, too (stat fails).
    const info = await stat(resolve(directory, name)).catch(() => undefined)
    if (info?.isFile() === true) files.push(name)
  }
  return files.sort(naturalCompare)
}

/** `*` is any run of characters, `?` any one; like a shell, a leading wildcard does not match a dot file. */
const wildcardRegExp = (pattern: string): RegExp => {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")
  return new RegExp(pattern.startsWith(".") ? `^${body}$` : `^(?!\\.)${body}$`, "s")
}

/** Natural order: runs of digits compare as numbers, the rest by code point; ties by plain comparison. */
export const naturalCompare = (a: string, b: string): number => {
  const partsA = a.match(/\d+|\D+/g) ?? []
  const partsB = b.match(/\d+|\D+/g) ?? []
  for (let i = 0; i < Math.min(partsA.length, partsB.length); i++) {
    const pa = partsA[i] as string
    const pb = partsB[i] as string
    const bothDigits = /^\d/.test(pa) && /^\d/.test(pb)
    const order = bothDigits ? compareDigitRuns(pa, pb) : compareText(pa, pb)
    if (order !== 0) return order
  }
  return partsA.length !== partsB.length ? partsA.length - partsB.length : compareText(a, b)
}

const compareDigitRuns = (a: string, b: string): number => {
  // Without leading zeros, a longer run is a larger number; equal lengths compare digit by digit.
  const na = a.replace(/^0+(?=\d)/, "")
  const nb = b.replace(/^0+(?=\d)/, "")
  return na.length !== nb.length ? na.length - nb.length : compareText(na, nb)
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const readOne = async (path: LocalPath): Promise<Uint8Array> => {
  try {
    const info = await stat(path.absolute)
    if (info.isDirectory()) throw new DataError(path.written, "is a directory, not a file")
    if (!info.isFile()) throw new DataError(path.written, "is not a regular file")
    const buffer = await readFile(path.absolute)
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  } catch (error) {
    if (error instanceof DataError) throw error
    const code = errorCode(error)
    if (code === "ENOENT" || code === "ENOTDIR") {
      const shipped = isAbsolute(path.written) ? undefined : shippedFallback(path.written)
      if (shipped !== undefined) return shipped.read()
      const where = isAbsolute(path.written) ? "" : ` (looked for ${path.absolute} and in dtq's shipped data folder ${SHIPPED_DATA_DIR})`
      throw new DataError(path.written, `does not exist${where}`)
    }
    throw new DataError(path.written, `cannot be read: ${describeFsError(error)}`)
  }
}

const errorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined

const describeFsError = (error: unknown): string => {
  const code = errorCode(error)
  if (code === "EACCES" || code === "EPERM") return "permission denied"
  return error instanceof Error ? error.message : String(error)
}
