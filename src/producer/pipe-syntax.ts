// The prompt's input syntax, after the Java predecessor: `sum 1|1000000`, `train model=logreg|task=...`.
// A command word, then `|`-separated parts (spaces also separate parts when there is no `|`);
// `key=value` parts are options, the rest are positional.

export type PromptLine = {
  readonly command: string
  readonly positional: string[]
  readonly options: Record<string, string>
  /** Everything after the command word, untouched (for `chat`). */
  readonly rest: string
}

export const parsePromptLine = (line: string): PromptLine | undefined => {
  const trimmed = line.trim()
  if (trimmed === "" || trimmed.startsWith("#")) return undefined
  const space = trimmed.search(/\s/)
  const command = (space === -1 ? trimmed : trimmed.slice(0, space)).toLowerCase()
  const rest = space === -1 ? "" : trimmed.slice(space + 1).trim()
  const parts = rest === "" ? [] : rest.includes("|") ? rest.split("|") : rest.split(/\s+/)
  const positional: string[] = []
  const options: Record<string, string> = {}
  for (const raw of parts) {
    const part = raw.trim()
    if (part === "") continue
    const eq = part.indexOf("=")
    if (eq > 0) options[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
    else positional.push(part)
  }
  return { command, positional, options, rest }
}
