// `dtq producer`: the interactive prompt.
import { Client } from "../producer/client.ts"
import { runPrompt } from "../producer/prompt.ts"
import { resolveNatsUrl } from "../nats/connection.ts"
import { parseArgs, stringFlag } from "./args.ts"

export const promptCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("producer", argv, {})
  const client = await Client.connect(resolveNatsUrl(stringFlag(args, "nats")))
  try {
    await runPrompt(client)
  } finally {
    await client.close()
  }
  return 0
}
