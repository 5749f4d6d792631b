import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and processes: two files at a time on a 2-core machine.
    maxWorkers: 2,
    pool: "forks"
  }
})
