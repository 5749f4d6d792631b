// Reading the rows a job request names, for training and inference alike: local files (CSV, gzip; comma
// lists and wildcards) are parsed here, an object name is read from the dtq-datasets bucket (dtq's
// encoding, or raw CSV). A bad file is a BadSpec naming the request's key, file, line and column.
import type { Dataset } from "../data/dataset.ts"
import { parseCsv, parseCsvFiles, type CsvOptions } from "../data/csv.ts"
import { decodeDataset } from "../data/dataset-codec.ts"
import { DataError } from "../data/errors.ts"
import { isLocalRef, readDataFiles } from "../data/files.ts"
import { BadSpec } from "../domain/errors.ts"
import type { DatasetStore } from "../nats/dataset-store.ts"

/** "DTQD": the first bytes of dtq's binary encoding of a data set. */
const isEncoded = (bytes: Uint8Array): boolean => bytes[0] === 0x44 && bytes[1] === 0x54 && bytes[2] === 0x51 && bytes[3] === 0x44

export const readRows = async (
  field: string,
  ref: string,
  datasets: Pick<DatasetStore, "raw">,
  csv: Omit<CsvOptions, "source">,
  cwd: string
): Promise<Dataset> => {
  try {
    if (isLocalRef(ref, cwd)) return parseCsvFiles(await readDataFiles(ref, cwd), csv)
    const bytes = await datasets.raw(ref).catch(() => null)
    if (bytes === null) throw new BadSpec({ field, message: `DATAREF: ${JSON.stringify(ref)} is neither a file nor an object in the dtq-datasets bucket` })
    return isEncoded(bytes) ? decodeDataset(bytes, ref) : parseCsv(bytes, { source: ref, ...csv })
  } catch (error) {
    // A reference that names nothing readable is the predecessor's DATAREF failure; a bad cell is not.
    if (error instanceof DataError) throw new BadSpec({ field, message: error.line === undefined && /does not exist|cannot be read|matches no file|not a regular file|directory/.test(error.detail) ? `DATAREF: ${error.message}` : error.message })
    throw error
  }
}
