// The one error of the data layer: whatever a user can get wrong in a data file or reference, named by place.

/** Where in a source a problem is: a 1-based line and, for one cell, a 1-based CSV column. */
export type DataPlace = { readonly line: number; readonly column?: number }

/**
 * A data file, data reference or encoded data set that cannot be used.
 * With a place, `detail` is a sentence after the location: `data/x.csv line 7, column 3: "abc" is not a number`.
 * Without one, `detail` is a predicate of the source as a whole: `data/x.csv has no data rows`.
 */
export class DataError extends Error {
  readonly _tag = "DataError"
  override readonly name = "DataError"
  /** The file name as the user wrote it, or the object-store name. */
  readonly source: string
  readonly line: number | undefined
  readonly column: number | undefined
  readonly detail: string
  constructor(source: string, detail: string, place?: DataPlace) {
    super(place === undefined ? `${source} ${detail}` : `${source} ${describePlace(place)}: ${detail}`)
    this.source = source
    this.line = place?.line
    this.column = place?.column
    this.detail = detail
  }
}

const describePlace = (place: DataPlace): string =>
  place.column === undefined ? `line ${place.line}` : `line ${place.line}, column ${place.column}`
