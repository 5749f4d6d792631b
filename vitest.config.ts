import { defineConfig } from "vitest/config"

// Tests run dtq from its source: `import ... from "dtq"` (in the fixtures' task modules and the examples)
// resolves to src/ through the "dtq-source" export condition, here and in every child process started.
process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, "--conditions=dtq-source"].filter(Boolean).join(" ")

export default defineConfig({
  resolve: { conditions: ["dtq-source", "module", "node", "development|production"] },
  ssr: { resolve: { conditions: ["dtq-source", "node", "development|production"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and processes: two files at a time on a 2-core machine.
    maxWorkers: 2,
    pool: "forks"
  }
})
