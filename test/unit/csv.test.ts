import { readFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { parseCsv, parseCsvFiles, type CsvOptions } from "../../src/data/csv.ts"
import type { Dataset } from "../../src/data/dataset.ts"
import { DataError } from "../../src/data/errors.ts"

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text)
const parse = (text: string | Uint8Array, options: Partial<CsvOptions> = {}): Dataset =>
  parseCsv(typeof text === "string" ? bytesOf(text) : text, { source: "data/t.csv", label: "first", ...options })

/** The plain view of a Dataset, to compare with toEqual. */
const plain = (d: Dataset) => ({ rows: d.rows, features: d.features, x: Array.from(d.x), y: Array.from(d.y) })

const dataErrorOf = (run: () => unknown): DataError => {
  try {
    run()
  } catch (error) {
    if (error instanceof DataError) return error
    throw error
  }
  throw new Error("expected a DataError")
}

const TWO_ROWS = { rows: 2, features: 2, x: [2, 3, 5, 6], y: [1, 4] }

describe("parseCsv: layout", () => {
  it("label first: column 1 to y, the rest to x, row-major", () => {
    expect(plain(parse("1,2,3\n4,5,6\n"))).toEqual(TWO_ROWS)
  })

  it("label last", () => {
    expect(plain(parse("1,2,3\n4,5,6\n", { label: "last" }))).toEqual({ rows: 2, features: 2, x: [1, 2, 4, 5], y: [3, 6] })
  })

  it("no newline at the end of the last line", () => {
    expect(plain(parse("1,2,3\n4,5,6"))).toEqual(TWO_ROWS)
  })

  it("decimals, signs and exponents", () => {
    const d = parse("0,-1.5,+2.25,1e3,-2.5E-2,.5,7.\n")
    expect(Array.from(d.x)).toEqual([-1.5, 2.25, 1000, Math.fround(-0.025), 0.5, 7])
  })

  it("every cell is Number(text) rounded to float32", () => {
    // A deterministic spread of plain decimals (the fast path) and long or exponent forms (the slow path).
    let seed = 12345
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
    const cells: Array<string> = []
    for (let i = 0; i < 2000; i++) {
      const digits = (next() * 1e6).toFixed(Math.floor(next() * 12))
      const sign = next() < 0.3 ? "-" : ""
      cells.push(i % 7 === 0 ? `${sign}${digits}e${Math.floor(next() * 20) - 10}` : `${sign}${digits}`)
    }
    cells.push("123456789012345678901", "0.1234567890123456789", "-0")
    const d = parse(`0,${cells.join(",")}\n`)
    expect(Array.from(d.x)).toEqual(cells.map((c) => Math.fround(Number(c))))
    expect(Object.is(d.x[cells.length - 1], -0)).toBe(true)
  })

  it("several files concatenate in order", () => {
    const d = parseCsvFiles(
      [
        { source: "a.csv", bytes: bytesOf("1,2,3\n") },
        { source: "b.csv", bytes: bytesOf("x,y,z\n4,5,6\n7,8,9\n") }
      ],
      { label: "first" }
    )
    expect(plain(d)).toEqual({ rows: 3, features: 2, x: [2, 3, 5, 6, 8, 9], y: [1, 4, 7] })
  })
})

describe("parseCsv: header detection", () => {
  it("a first row with a name is a header", () => {
    expect(plain(parse("label,a,b\n1,2,3\n4,5,6\n"))).toEqual(TWO_ROWS)
    expect(plain(parse('"y";"pixel_1";"pixel_2"\n1;2;3\n4;5;6\n'))).toEqual(TWO_ROWS)
  })

  it("a numeric first row is data", () => {
    expect(plain(parse("1,2,3\n4,5,6\n")).rows).toBe(2)
  })

  it("a first row whose odd cell is no name is data, and fails on that cell", () => {
    expect(dataErrorOf(() => parse("1,2,\n4,5,6\n")).message).toBe("data/t.csv line 1, column 3: empty cell, expected a number")
    expect(dataErrorOf(() => parse("1,NaN,3\n")).message).toBe('data/t.csv line 1, column 2: "NaN" is not a finite number')
  })

  it("hasHeader: true skips a numeric first row", () => {
    expect(plain(parse("0,1,2\n1,2,3\n4,5,6\n", { hasHeader: true }))).toEqual(TWO_ROWS)
  })

  it("hasHeader: false makes a header a data row that fails", () => {
    const error = dataErrorOf(() => parse("label,a,b\n1,2,3\n", { hasHeader: false }))
    expect(error.message).toBe('data/t.csv line 1, column 1: "label" is not a number')
    expect([error.source, error.line, error.column]).toEqual(["data/t.csv", 1, 1])
  })

  it("the column count comes from the first data row, not the header", () => {
    expect(plain(parse("label,a,b,extra\n1,2,3\n4,5,6\n"))).toEqual(TWO_ROWS)
  })
})

describe("parseCsv: delimiters", () => {
  it("detects comma, semicolon, tab and whitespace runs", () => {
    expect(plain(parse("1,2,3\n4,5,6\n"))).toEqual(TWO_ROWS)
    expect(plain(parse("1;2;3\n4;5;6\n"))).toEqual(TWO_ROWS)
    expect(plain(parse("1\t2\t3\n4\t5\t6\n"))).toEqual(TWO_ROWS)
    expect(plain(parse("1 2   3\n  4\t5 \t 6  \n"))).toEqual(TWO_ROWS)
  })

  it("prefers semicolon over comma when both are on every line", () => {
    expect(dataErrorOf(() => parse("1;2,5;3\n4;5,5;6\n")).message).toBe('data/t.csv line 1, column 2: "2,5" is not a number')
  })

  it("takes an explicit delimiter; a space means runs of blanks", () => {
    expect(plain(parse("1|2|3\n4|5|6\n", { delimiter: "|" }))).toEqual(TWO_ROWS)
    expect(plain(parse("1  2 3\n4 5\t6\n", { delimiter: " " }))).toEqual(TWO_ROWS)
    expect(plain(parse("1,2,3\n4,5,6\n", { delimiter: "," }))).toEqual(TWO_ROWS)
  })

  it("refuses a delimiter that cannot be one", () => {
    expect(dataErrorOf(() => parse("1,2\n", { delimiter: "ab" })).message).toBe(
      'data/t.csv cannot be split by delimiter "ab": a delimiter is one character, not a digit, sign, point, quote or newline'
    )
    expect(dataErrorOf(() => parse("1,2\n", { delimiter: "." })).message).toContain('delimiter "."')
  })

  it("blanks and quotes around cells are allowed", () => {
    expect(plain(parse(' 1 , "2" ,3 \n4,\t5\t, "6"\n'))).toEqual(TWO_ROWS)
  })
})

describe("parseCsv: encodings and line endings", () => {
  it("gzip, by its magic bytes", () => {
    expect(plain(parse(gzipSync("1,2,3\n4,5,6\n")))).toEqual(TWO_ROWS)
  })

  it("CRLF", () => {
    expect(plain(parse("a,b,c\r\n1,2,3\r\n4,5,6\r\n"))).toEqual(TWO_ROWS)
  })

  it("a UTF-8 byte order mark", () => {
    expect(plain(parse("\uFEFFa,b,c\n1,2,3\n4,5,6\n"))).toEqual(TWO_ROWS)
    expect(plain(parse("\uFEFF1,2,3\n4,5,6\n"))).toEqual(TWO_ROWS)
  })

  it("blank lines are skipped but still counted in line numbers", () => {
    expect(plain(parse("\n  \na,b,c\n\n1,2,3\r\n\t\r\n4,5,6\n\n"))).toEqual(TWO_ROWS)
    expect(dataErrorOf(() => parse("1,2\n\n \r\n3,x\n")).message).toBe('data/t.csv line 4, column 2: "x" is not a number')
  })
})

describe("parseCsv: errors", () => {
  const cases: Array<[string, string | Uint8Array, string]> = [
    ["fewer columns", "1,2,3\n4,5,6\n7,8\n", "data/t.csv line 3: 2 columns, expected 3"],
    ["more columns", "1,2,3\n4,5,6,7\n", "data/t.csv line 2: 4 columns, expected 3"],
    ["a column count error comes before a bad cell", "1,2,3\nx,5\n", "data/t.csv line 2: 2 columns, expected 3"],
    ["a word", "1,2,3\n4,abc,6\n", 'data/t.csv line 2, column 2: "abc" is not a number'],
    ["a label that is no number", "1,2,3\nfour,5,6\n", 'data/t.csv line 2, column 1: "four" is not a number'],
    ["hex is no decimal", "1,0x10,3\n", 'data/t.csv line 1, column 2: "0x10" is not a number'],
    ["a lone sign", "1,-,3\n", 'data/t.csv line 1, column 2: "-" is not a number'],
    ["an empty cell", "1,,3\n", "data/t.csv line 1, column 2: empty cell, expected a number"],
    ["a trailing delimiter", "1,2,3\n4,5,6,\n", "data/t.csv line 2: 4 columns, expected 3"],
    ["Infinity", "1,2,Infinity\n", 'data/t.csv line 1, column 3: "Infinity" is not a finite number'],
    ["nan", "1,2,3\n4,nan,6\n", 'data/t.csv line 2, column 2: "nan" is not a finite number'],
    ["an overflowing double", "1,1e999,3\n", 'data/t.csv line 1, column 2: "1e999" is not a finite number'],
    ["beyond float32", "1,2,3.5e38\n", 'data/t.csv line 1, column 3: "3.5e38" is out of range for a 32-bit float'],
    ["a long cell is shortened", `1,2\n3,${"z".repeat(60)}\n`, `data/t.csv line 2, column 2: "${"z".repeat(40)}..." is not a number`],
    ["an empty file", "", "data/t.csv has no data rows"],
    ["only blank lines", "\n \r\n\t\n", "data/t.csv has no data rows"],
    ["a header only", "label,a,b\n", "data/t.csv has no data rows"],
    ["one column", "label\n1\n2\n", "data/t.csv line 2: 1 column (no delimiter found: expected , ; tab or spaces); a data set needs a label column and at least one feature column"],
    ["a binary file", Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x76), "data/t.csv is not a text file (it contains NUL bytes); expected CSV text, optionally gzipped"],
    ["a truncated gzip", gzipSync("1,2,3\n4,5,6\n").subarray(0, 20), "data/t.csv is not a valid gzip file: unexpected end of file"],
    ["a gzip with a bad method", Uint8Array.of(0x1f, 0x8b, 1, 0, 0, 0, 0, 0, 0, 3), "data/t.csv is not a valid gzip file: unknown compression method"]
  ]
  for (const [name, input, message] of cases) {
    it(name, () => {
      const error = dataErrorOf(() => parse(input))
      expect(error.message).toBe(message)
      expect(error.source).toBe("data/t.csv")
    })
  }

  it("a corrupt gzip body", () => {
    const gz = Uint8Array.from(gzipSync("1,2,3\n4,5,6\n"))
    gz[gz.length - 6] = (gz[gz.length - 6] as number) ^ 0xff // inside the CRC
    expect(dataErrorOf(() => parse(gz)).message).toBe("data/t.csv is not a valid gzip file: incorrect data check")
  })

  it("a bad cell in a gzipped file keeps its line and column", () => {
    const error = dataErrorOf(() => parse(gzipSync("1,2,3\n\n4,5,?\n"), { source: "data/t.csv.gz" }))
    expect(error.message).toBe('data/t.csv.gz line 3, column 3: "?" is not a number')
    expect([error.line, error.column]).toEqual([3, 3])
  })

  it("a file of another width names that file and its first data line", () => {
    const error = dataErrorOf(() =>
      parseCsvFiles(
        [
          { source: "a.csv", bytes: bytesOf("1,2,3\n") },
          { source: "b.csv", bytes: bytesOf("h1,h2\n\n1,2\n") }
        ],
        { label: "first" }
      )
    )
    expect(error.message).toBe("b.csv line 3: 2 columns, expected 3 as in a.csv")
    expect(error.source).toBe("b.csv")
  })

  it("no files at all", () => {
    expect(dataErrorOf(() => parseCsvFiles([], { label: "first" })).message).toBe("the data reference names no file")
  })
})

describe("the shipped MNIST subset", () => {
  const mnist = (name: string) => {
    const source = join(import.meta.dirname, "..", "..", "data", "mnist", name)
    return parseCsv(readFileSync(source), { source, label: "first" })
  }
  const check = (d: Dataset, rows: number) => {
    expect([d.rows, d.features, d.x.length, d.y.length]).toEqual([rows, 784, rows * 784, rows])
    expect(new Set(d.y)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    let min = Infinity
    let max = -Infinity
    let integers = true
    for (const v of d.x) {
      if (v < min) min = v
      if (v > max) max = v
      if (!Number.isInteger(v)) integers = false
    }
    expect([min, max, integers]).toEqual([0, 255, true])
  }

  it("train.csv.gz: 8,000 x 784, labels 0..9, pixels 0..255", () => check(mnist("train.csv.gz"), 8000))
  it("test.csv.gz: 2,000 x 784, labels 0..9, pixels 0..255", () => check(mnist("test.csv.gz"), 2000))
})

describe("parseCsv: label none (unlabeled rows)", () => {
  it("every column is a feature, y is all zeros", () => {
    expect(plain(parse("1,2,3\n4,5,6\n", { label: "none" }))).toEqual({ rows: 2, features: 3, x: [1, 2, 3, 4, 5, 6], y: [0, 0] })
  })

  it("one column is one feature", () => {
    expect(plain(parse("7\n8\n", { label: "none", hasHeader: false }))).toEqual({ rows: 2, features: 1, x: [7, 8], y: [0, 0] })
  })

  it("a header is skipped as with a label", () => {
    expect(plain(parse("a,b\n1,2\n", { label: "none" }))).toEqual({ rows: 1, features: 2, x: [1, 2], y: [0] })
  })

  it("errors name the same places", () => {
    expect(dataErrorOf(() => parse("1,2,3\n4,x,6\n", { label: "none" })).message).toBe('data/t.csv line 2, column 2: "x" is not a number')
    expect(dataErrorOf(() => parse("1,2,3\n4,5\n", { label: "none" })).message).toBe("data/t.csv line 2: 2 columns, expected 3")
  })

  it("several files must have the same column count", () => {
    const files = (second: string) => [
      { source: "a.csv", bytes: bytesOf("1,2,3\n") },
      { source: "b.csv", bytes: bytesOf(second) }
    ]
    expect(plain(parseCsvFiles(files("4,5,6\n"), { label: "none" }))).toEqual({ rows: 2, features: 3, x: [1, 2, 3, 4, 5, 6], y: [0, 0] })
    expect(dataErrorOf(() => parseCsvFiles(files("4,5\n"), { label: "none" })).message).toBe("b.csv line 1: 2 columns, expected 3 as in a.csv")
  })

  it("the MNIST test set without its label is 785 features", () => {
    const source = join(import.meta.dirname, "..", "..", "data", "mnist", "test.csv.gz")
    const d = parseCsv(readFileSync(source), { source, label: "none" })
    const labeled = parseCsv(readFileSync(source), { source, label: "first" })
    expect([d.rows, d.features]).toEqual([2000, 785])
    expect(d.x[0]).toBe(labeled.y[0])
    expect(d.y.every((v) => v === 0)).toBe(true)
  })
})
