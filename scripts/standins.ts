/**
 * Starts the local stand-ins (Cynet simulator, dev host) with wrangler's programmatic dev
 * server. Used by the tests' global setup, the smoke test and the benchmark.
 */
import { unstable_startWorker } from "wrangler";

export interface RunningStandin {
  port: number;
  url: string;
}

/** Starts one stand-in from its wrangler config on `port` (0: any free port). */
export async function startStandin(config: string, port = 0, persistTo?: string) {
  const worker = await unstable_startWorker({
    config,
    dev: {
      server: { hostname: "127.0.0.1", port },
      inspector: false,
      logLevel: "warn",
      persist: persistTo ?? false,
    },
  });
  await worker.ready;
  const url = await worker.url;
  return { worker, standin: { port: Number(url.port), url: url.origin } satisfies RunningStandin };
}

/** Starts both stand-ins and returns their ports and a stop function. */
export async function startStandins(ports: { cynet?: number; host?: number } = {}) {
  const cynet = await startStandin("dev/cynet-sim/wrangler.toml", ports.cynet ?? 0);
  const host = await startStandin("dev/host/wrangler.toml", ports.host ?? 0);
  return {
    cynet: cynet.standin,
    host: host.standin,
    async stop() {
      await Promise.allSettled([cynet.worker.dispose(), host.worker.dispose()]);
    },
  };
}
