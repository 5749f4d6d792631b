// Where commands write files: a per-job folder under ./dtq-output by default, never loose into the
// current directory. An explicit --out (or the prompt's out=DIR) is used as given.
import { join } from "node:path"

/** The folder every command's files go under unless --out names another. */
export const DEFAULT_OUTPUT_ROOT = "dtq-output"

/** A job's files: `--out` as given, else `./dtq-output/<job>/`. */
export const jobOutputDir = (out: string | undefined, jobId: string): string => out ?? join(DEFAULT_OUTPUT_ROOT, jobId)

/** Charts and CSVs of one job (`--job`) or of every job in the log (`./dtq-output/plot/`). */
export const plotOutputDir = (out: string | undefined, jobId: string | undefined): string => out ?? join(DEFAULT_OUTPUT_ROOT, jobId ?? "plot")
