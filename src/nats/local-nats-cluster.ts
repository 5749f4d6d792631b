// A NATS cluster of N servers on this machine (routes on loopback, one store folder each), for trying
// the multi-machine setup on one machine: dtq up --nats-cluster 3, and the tests.
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { LocalServerError } from "./errors.ts"
import { freePort, startLocalServer, type LocalServer } from "./local-server.ts"

export type LocalNatsCluster = {
  readonly servers: LocalServer[]
  /** Every server's URL, comma-separated: clients fail over between them. */
  readonly url: string
  readonly stop: () => Promise<void>
}

export const startLocalNatsCluster = async (options: { size: number; baseDir: string; name?: string }): Promise<LocalNatsCluster> => {
  const ports = await Promise.all(Array.from({ length: options.size }, () => freePort()))
  const routePorts = await Promise.all(Array.from({ length: options.size }, () => freePort()))
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`)
  const servers = await Promise.all(
    ports.map((port, i) =>
      startLocalServer({
        port,
        storeDir: join(options.baseDir, `n${i + 1}`),
        cluster: { name: options.name ?? "dtq", serverName: `n${i + 1}`, routePort: routePorts[i] as number, routes: routes.filter((_, j) => j !== i) }
      })
    )
  )
  const cluster: LocalNatsCluster = {
    servers,
    url: servers.map((s) => s.url).join(","),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()))
    }
  }
  try {
    await waitForJetStream(cluster.url, options.size)
  } catch (error) {
    await cluster.stop()
    throw error
  }
  return cluster
}

/** Waits (up to 30 s) until the cluster's JetStream has a meta leader and can place a stream on every server. */
const waitForJetStream = async (url: string, replicas: number): Promise<void> => {
  const nc = await connect({ servers: url.split(","), timeout: 5000 })
  const deadline = Date.now() + 30_000
  let last = ""
  try {
    while (Date.now() < deadline) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2000 })
        await jsm.streams.add({ name: "DTQ_PROBE", subjects: ["dtq.probe"], num_replicas: replicas, storage: "memory" as never })
        await jsm.streams.delete("DTQ_PROBE")
        return
      } catch (error) {
        last = (error as Error).message
        await new Promise((r) => setTimeout(r, 250))
      }
    }
    throw new LocalServerError({ detail: `the NATS cluster's JetStream did not become ready within 30 s: ${last}` })
  } finally {
    await nc.close()
  }
}
