// Must show (issue 15, item 3): the log recorded with an earlier release (test/fixtures/old-log, by
// scripts/record-log-fixture.ts) replays through today's decode + fold to the same job outcomes.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { foldMessage } from "../../src/projections/fold-message.ts"
import { emptyState } from "../../src/projections/state.ts"
import { jobOutcomes, readFixture, type JobOutcome } from "../helpers/log-fixture.ts"

const dir = join(import.meta.dirname, "../fixtures/old-log")
const expected = JSON.parse(readFileSync(join(dir, "outcomes.json"), "utf8")) as { lastSeq: number; events: number; jobs: JobOutcome[] }

describe("the old-log fixture", () => {
  it("decodes every stored message and folds to the recorded job outcomes", () => {
    const messages = readFixture(join(dir, "log.jsonl"))
    expect(messages).toHaveLength(expected.events)
    const state = emptyState()
    const undecodable: string[] = []
    for (const m of messages) {
      const decoded = foldMessage(state, m, m.data)
      if (!decoded.ok) undecodable.push(`seq ${m.seq}: ${decoded.reason}`)
    }
    expect(undecodable).toEqual([])
    expect(state.seq).toBe(expected.lastSeq)
    expect(state.recentRejected).toEqual([])
    expect(jobOutcomes(state)).toEqual(expected.jobs)
  })
})
