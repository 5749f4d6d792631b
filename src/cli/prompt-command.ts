// `dtq producer`: the interactive prompt.
import { Client } from "../producer/client.ts"
import { runPrompt } from "../producer/prompt.ts"
import { parseArgs } from "./args.ts"
import { natsTarget } from "./nats-flags.ts"

export const promptCommand = async (argv: string[]): Promise<number> => {
  const args = parseArgs("producer", argv, {})
  const { url, credentials } = natsTarget(args)
  const client = await Client.connect(url, credentials)
  try {
    await runPrompt(client)
  } finally {
    await client.close()
  }
  return 0
}
