// The Java predecessor's training keys and the Python runner's priority words, as dtq reads them.
import { describe, expect, it } from "vitest"
import { BadSpec } from "../../src/domain/errors.ts"
import { decodeTrainRequest, parseTarget, trainRequestFromPairs } from "../../src/domain/train-spec.ts"
import { inferRequestFromPairs } from "../../src/domain/infer-spec.ts"
import { parsePromptLine } from "../../src/producer/pipe-syntax.ts"
import { applyNormalizer, fitNormalizer } from "../../src/data/normalize.ts"

const LINE =
  "train type=TrainGdBatchJob|model=logreg|task=binary_is_zero|samples=2000|features=784|epochs=1|batchSize=128|lr=0.1|seed=42|dataRef=file:./data/train.csv|testRef=file:./data/mnist_test.csv|hasHeader=true|csvLabel=first|normalize=255|init=zeros|mode=sync"

const badSpec = (f: () => unknown): BadSpec => {
  try {
    f()
  } catch (error) {
    if (error instanceof BadSpec) return error
    throw error
  }
  throw new Error("expected a BadSpec")
}

describe("the predecessor's training line", () => {
  it("is a valid request, verbatim", () => {
    const line = parsePromptLine(LINE)!
    const request = decodeTrainRequest(trainRequestFromPairs(line.options))
    expect(request).toMatchObject({ type: "TrainGdBatchJob", model: "logreg", samples: 2000, features: 784, normalize: 255, data: "file:./data/train.csv", test: "file:./data/mnist_test.csv", hasHeader: true, init: "zeros" })
  })

  it("refuses any other type by name, saying what it accepts", () => {
    const error = badSpec(() => trainRequestFromPairs({ type: "SumJob" }))
    expect([error.field, error.message]).toEqual(["type", '"SumJob" is not a training job type: train accepts type=TrainGdBatchJob (or no type)'])
    expect(badSpec(() => decodeTrainRequest({ kind: "train", type: "SumJob" })).field).toBe("type")
  })

  it("takes normalize=<number> beside the named normalizers, and refuses anything else naming both", () => {
    expect(trainRequestFromPairs({ normalize: "255" }).normalize).toBe(255)
    expect(trainRequestFromPairs({ normalize: "zscore" }).normalize).toBe("zscore")
    const error = badSpec(() => decodeTrainRequest(trainRequestFromPairs({ normalize: "-3" })))
    expect(error.field).toBe("normalize")
    expect(badSpec(() => decodeTrainRequest(trainRequestFromPairs({ normalize: "pixels" }))).message).toMatch(/pixels/)
  })

  it("task=demo is linreg on the raw labels; binary_is_<digit word or label>", () => {
    expect(parseTarget("demo", "linreg")).toEqual({ kind: "regression" })
    expect(parseTarget("binary_is_seven", "logreg")).toEqual({ kind: "binary", positive: 7 })
    expect(parseTarget("binary_is_12", "logreg")).toEqual({ kind: "binary", positive: 12 })
    expect(badSpec(() => parseTarget("demo", "logreg")).message).toMatch(/binary_is_<label>/)
  })

  it("a divisor scales every feature by it, whatever the data (on pixels up to 255, exactly as max does)", () => {
    const data = { rows: 2, features: 2, x: Float32Array.from([255, 0, 51, 102]), y: Float32Array.from([0, 1]) }
    const scaled = applyNormalizer(data, fitNormalizer(data, 255)).x
    expect([...scaled]).toEqual([255, 0, 51, 102].map((v) => Math.fround(v * Math.fround(1 / 255))))
    expect(scaled).toEqual(applyNormalizer(data, fitNormalizer(data, "max")).x)
    const dim = { ...data, x: Float32Array.from([100, 0, 50, 25]) }
    expect([...applyNormalizer(dim, fitNormalizer(dim, 50)).x]).toEqual([2, 0, 1, 0.5])
  })
})

describe("priority words", () => {
  it("LOW, MEDIUM and HIGH of the Python runner, in any case", () => {
    expect(trainRequestFromPairs({ priority: "HIGH" }).priority).toBe("high")
    expect(trainRequestFromPairs({ priority: "MEDIUM" }).priority).toBe("normal")
    expect(inferRequestFromPairs({ model: "j-1", priority: "LOW" }).priority).toBe("low")
    expect(inferRequestFromPairs({ model: "j-1", priority: "7" }).priority).toBe(7)
  })
})

describe("one vocabulary for data options", () => {
  it("infer takes training's keys (csvLabel, hasHeader, normalize, dataRef) and the older labels=", () => {
    const request = inferRequestFromPairs({ model: "j-1", dataRef: "x.csv", csvLabel: "last", hasHeader: "false", normalize: "255" })
    expect(request).toMatchObject({ data: "x.csv", csvLabel: "last", hasHeader: false, normalize: 255 })
    expect(inferRequestFromPairs({ model: "j-1", labels: "none" }).labels).toBe("none")
    expect(badSpec(() => inferRequestFromPairs({ model: "j-1", csvLabel: "middle" })).field).toBe("csvLabel")
  })
})
