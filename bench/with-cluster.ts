// A fresh local cluster (nats-server, a coordinator, `workers` workers with 4 slots) for one benchmark
// section, with a connected client; its store is wiped first and the cluster stopped after.
import { rmSync } from "node:fs"
import { resolve } from "node:path"
import { LocalCluster } from "../src/cli/local-cluster.ts"
import { Client } from "../src/producer/client.ts"

export const withCluster = async <T>(name: string, workers: number, f: (client: Client) => Promise<T>): Promise<T> => {
  const storeDir = resolve(`.dtq/bench-${name}-${workers}`)
  rmSync(storeDir, { recursive: true, force: true })
  const cluster = await LocalCluster.start({ workers, slots: 4, storeDir })
  const client = await Client.connect(cluster.url)
  try {
    return await f(client)
  } finally {
    await client.close()
    await cluster.stop()
  }
}
