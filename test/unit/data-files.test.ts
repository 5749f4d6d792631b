import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DataError } from "../../src/data/errors.ts"
import { isLocalRef, naturalCompare, readDataFiles } from "../../src/data/files.ts"
import { SHIPPED_DATA_DIR } from "../../src/data/shipped.ts"
import { parseCsvFiles } from "../../src/data/csv.ts"

// root/
//   work/                  the cwd of every read
//     a.csv  b.csv  with space.csv  locked.csv  sub/
//   letters/
//     train_letters1.txt train_letters2.txt train_letters10.txt train_letters_dir/ test_letters1.txt .train_letters0.txt
let root = ""
let work = ""

const write = (path: string, text: string) => writeFileSync(path, text)
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const read = async (ref: string) => (await readDataFiles(ref, work)).map((f) => [f.source, text(f.bytes)])

const dataErrorOf = async (run: () => Promise<unknown>): Promise<DataError> => {
  try {
    await run()
  } catch (error) {
    if (error instanceof DataError) return error
    throw error
  }
  throw new Error("expected a DataError")
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "dtq-data-files-"))
  work = join(root, "work")
  const letters = join(root, "letters")
  mkdirSync(join(work, "sub"), { recursive: true })
  mkdirSync(join(letters, "train_letters_dir"), { recursive: true })
  write(join(work, "a.csv"), "A")
  write(join(work, "b.csv"), "B")
  write(join(work, "with space.csv"), "S")
  write(join(work, "locked.csv"), "L")
  for (const n of [1, 2, 10]) write(join(letters, `train_letters${n}.txt`), `T${n}`)
  write(join(letters, "test_letters1.txt"), "X")
  write(join(letters, ".train_letters0.txt"), "H")
})

afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

describe("readDataFiles", () => {
  it("a plain path relative to cwd, and an absolute one", async () => {
    expect(await read("a.csv")).toEqual([["a.csv", "A"]])
    expect(await read(join(work, "b.csv"))).toEqual([[join(work, "b.csv"), "B"]])
  })

  it("file: references, relative and absolute (percent-decoded)", async () => {
    expect(await read("file:a.csv")).toEqual([["a.csv", "A"]])
    const url = pathToFileURL(join(work, "with space.csv")).href
    expect(url).toContain("with%20space.csv")
    expect(await read(url)).toEqual([[join(work, "with space.csv"), "S"]])
  })

  it("a comma-separated list, in its order, blanks around entries allowed", async () => {
    expect(await read("b.csv, a.csv ,file:a.csv")).toEqual([["b.csv", "B"], ["a.csv", "A"], ["a.csv", "A"]])
  })

  it("a wildcard in the last segment expands in natural order, skipping directories and dot files", async () => {
    expect(await read("../letters/train_letters*.txt")).toEqual([
      ["../letters/train_letters1.txt", "T1"],
      ["../letters/train_letters2.txt", "T2"],
      ["../letters/train_letters10.txt", "T10"]
    ])
    expect(await read("../letters/train_letters?.txt")).toEqual([
      ["../letters/train_letters1.txt", "T1"],
      ["../letters/train_letters2.txt", "T2"]
    ])
    expect((await read("../letters/*")).map(([source]) => source)).toEqual([
      "../letters/test_letters1.txt",
      "../letters/train_letters1.txt",
      "../letters/train_letters2.txt",
      "../letters/train_letters10.txt"
    ])
    expect((await read("../letters/.train*")).map(([source]) => source)).toEqual(["../letters/.train_letters0.txt"])
  })

  it("wildcards in the cwd and mixed with plain entries", async () => {
    expect(await read("*.csv")).toEqual([["a.csv", "A"], ["b.csv", "B"], ["locked.csv", "L"], ["with space.csv", "S"]])
    expect((await read("a.csv,file:../letters/train_letters1*")).map(([source]) => source)).toEqual([
      "a.csv",
      "../letters/train_letters1.txt",
      "../letters/train_letters10.txt"
    ])
  })

  it("a missing file names the path as written and where it was looked for", async () => {
    const error = await dataErrorOf(() => readDataFiles("a.csv,missing.csv", work))
    expect(error.message).toBe(`missing.csv does not exist (looked for ${join(work, "missing.csv")} and in dtq's shipped data folder ${SHIPPED_DATA_DIR})`)
    expect(error.source).toBe("missing.csv")
    const absolute = join(work, "gone.csv")
    expect((await dataErrorOf(() => readDataFiles(`file://${absolute}`, work))).message).toBe(`${absolute} does not exist`)
    expect((await dataErrorOf(() => readDataFiles("a.csv/x.csv", work))).message).toBe(`a.csv/x.csv does not exist (looked for ${join(work, "a.csv", "x.csv")} and in dtq's shipped data folder ${SHIPPED_DATA_DIR})`)
  })

  it("a directory where a file is expected", async () => {
    expect((await dataErrorOf(() => readDataFiles("sub", work))).message).toBe("sub is a directory, not a file")
    expect((await dataErrorOf(() => readDataFiles("file:../letters", work))).message).toBe("../letters is a directory, not a file")
  })

  it("a pattern that matches nothing", async () => {
    expect((await dataErrorOf(() => readDataFiles("../letters/valid_letters*.txt", work))).message).toBe("../letters/valid_letters*.txt matches no file")
    expect((await dataErrorOf(() => readDataFiles("../letters/train_letters_d*", work))).message).toBe("../letters/train_letters_d* matches no file")
    expect((await dataErrorOf(() => readDataFiles("nowhere/x*.csv", work))).message).toBe("nowhere/x*.csv matches no file: its directory does not exist")
  })

  it("a wildcard outside the last segment", async () => {
    expect((await dataErrorOf(() => readDataFiles("../*/train_letters1.txt", work))).message).toBe(
      "../*/train_letters1.txt has a wildcard outside its last path segment; only the file name may have * or ?"
    )
  })

  it("empty references and entries", async () => {
    expect((await dataErrorOf(() => readDataFiles("", work))).message).toBe('data reference "" names no file')
    expect((await dataErrorOf(() => readDataFiles("a.csv,,b.csv", work))).message).toBe('data reference "a.csv,,b.csv" has an empty entry between commas')
  })

  it("a bad file URL", async () => {
    expect((await dataErrorOf(() => readDataFiles("file://otherhost/x.csv", work))).message).toMatch(/^file:\/\/otherhost\/x\.csv is not a usable file URL: /)
  })

  // root reads any file, so the permission check only means something for another user.
  it.skipIf(process.getuid?.() === 0)("an unreadable file", async () => {
    chmodSync(join(work, "locked.csv"), 0o000)
    try {
      expect((await dataErrorOf(() => readDataFiles("locked.csv", work))).message).toBe("locked.csv cannot be read: permission denied")
    } finally {
      chmodSync(join(work, "locked.csv"), 0o644)
    }
  })
})

describe("naturalCompare", () => {
  it("orders digit runs by value", () => {
    const names = ["t10.txt", "t2.txt", "t1.txt", "t02.txt", "s9.txt", "t", "t1b.txt", "t1a.txt", "t100.txt"]
    expect([...names].sort(naturalCompare)).toEqual(["s9.txt", "t", "t1.txt", "t1a.txt", "t1b.txt", "t02.txt", "t2.txt", "t10.txt", "t100.txt"])
  })
})

describe("isLocalRef", () => {
  it("paths and file: references are local; bare names are object-store names unless such a file exists", () => {
    const local = ["./x", "../shared/x.csv", "data/x.csv", "C:\\data\\x.csv", "file:x.csv", "file:///x.csv", ".hidden", "train*.csv", "a.csv", "mnist-train,a.csv"]
    const remote = ["mnist-train", "letters_v2", "x.csv", "mnist-train,mnist-test"]
    for (const ref of local) expect(isLocalRef(ref, work), ref).toBe(true)
    for (const ref of remote) expect(isLocalRef(ref, work), ref).toBe(false)
  })
})

describe("the shipped data folder (the predecessor's data references)", () => {
  let elsewhere: string
  beforeAll(() => {
    elsewhere = mkdtempSync(join(tmpdir(), "dtq-shipped-"))
  })
  afterAll(() => rmSync(elsewhere, { recursive: true, force: true }))

  it("answers the predecessor's names with the MNIST subset in Kaggle's layout (a label,pixel0.. header), from any directory", async () => {
    const train = parseCsvFiles(await readDataFiles("file:./data/train.csv", elsewhere), { label: "first", hasHeader: true })
    const test = parseCsvFiles(await readDataFiles("file:./data/mnist_test.csv", elsewhere), { label: "first", hasHeader: true })
    const own = parseCsvFiles(await readDataFiles("data/mnist/train.csv.gz", elsewhere), { label: "first" })
    expect([train.rows, train.features, test.rows, test.features]).toEqual([8000, 784, 2000, 784])
    // The same rows as the shipped file read under its own name: the header is the only difference.
    expect(train.x).toEqual(own.x)
    expect(train.y).toEqual(own.y)
    const [file] = await readDataFiles("file:./data/train.csv", elsewhere)
    expect(new TextDecoder().decode(file!.bytes.subarray(0, 26))).toBe("label,pixel0,pixel1,pixel2")
    expect(file!.source).toBe("./data/train.csv")
  })

  it("prefers a file that exists in the current directory, and names both places when neither has it", async () => {
    mkdirSync(join(elsewhere, "data"), { recursive: true })
    writeFileSync(join(elsewhere, "data", "train.csv"), "1,2,3\n0,4,5\n")
    const local = parseCsvFiles(await readDataFiles("./data/train.csv", elsewhere), { label: "first" })
    expect([local.rows, local.features]).toEqual([2, 2])
    const error = await dataErrorOf(() => readDataFiles("file:./data/does_not_exist.csv", elsewhere))
    expect(error.message).toBe(`./data/does_not_exist.csv does not exist (looked for ${join(elsewhere, "data", "does_not_exist.csv")} and in dtq's shipped data folder ${SHIPPED_DATA_DIR})`)
  })
})
