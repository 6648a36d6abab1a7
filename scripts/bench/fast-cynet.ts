/**
 * Starts the benchmark's Node Cynet (./fast-cynet-server.ts) as a child process of the bench,
 * so its CPU is its own and not the bench's or the plugin's, and talks to its control API.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { z } from "zod";
import { root } from "../lib/stack.ts";

/** Longest the server may take to start listening: it only loads modules. */
const STARTUP_TIMEOUT_MS = 30_000;
/**
 * Heap of the server: a million-alert world is about 2 GB of objects (dev/cynet-sim/world.ts),
 * above Node's default old-space limit on some machines; one world of that size is held at a time.
 */
const SERVER_HEAP_MB = 8192;

const counts = z.object({ token: z.number(), alerts: z.number(), file: z.number(), all: z.number() });
const statsSchema = z.object({ alerts: z.number(), latencyMs: z.number(), calls: counts, inFlight: counts, maxInFlight: counts });
const worldSchema = statsSchema.extend({ label: z.string(), epoch: z.string() });

/** Calls and requests in flight of one world, as the server counted them. */
export type FastCynetStats = z.infer<typeof statsSchema>;

/** Options of a world: the simulator's (dev/cynet-sim/world.ts) plus the latency added to each alerts call. */
export interface FastWorldOptions {
  alertCount: number;
  seed: number;
  epoch?: string;
  latencyMs?: number;
}

export interface FastCynet {
  url: string;
  pid: number;
  /** (Re)creates a world; returns its epoch, from which the bench can generate the same alerts. */
  putWorld(label: string, options: FastWorldOptions): Promise<{ epoch: string; alerts: number }>;
  deleteWorld(label: string): Promise<void>;
  stats(label: string): Promise<FastCynetStats>;
  /** Zeroes the call counts and the most-in-flight marks (the calls open now stay counted). */
  resetStats(label: string): Promise<FastCynetStats>;
  stop(): void;
}

async function control<T>(schema: z.ZodType<T>, url: string, method: string, body?: unknown): Promise<T> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status} ${text.slice(0, 300)}`);
  return schema.parse(JSON.parse(text));
}

/** Starts the server on a free loopback port; `verbose` passes its output through. */
export async function startFastCynet(verbose: boolean): Promise<FastCynet> {
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${SERVER_HEAP_MB}`, "--disable-warning=ExperimentalWarning", "--import", join(root, "scripts/lib/ts-hooks.ts"), join(root, "scripts/bench/fast-cynet-server.ts")],
    { cwd: root, stdio: ["pipe", "pipe", "pipe"] },
  );
  const port = await new Promise<number>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("the Node Cynet did not start")), STARTUP_TIMEOUT_MS);
    let seen = "";
    child.stdout.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /fast-cynet listening (\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        ok(Number(m[1]));
      }
      if (verbose) process.stdout.write(`bench: [fast-cynet] ${chunk.toString()}`);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (verbose) process.stdout.write(`bench: [fast-cynet] ${chunk.toString()}`);
    });
    child.once("exit", (code) => fail(new Error(`the Node Cynet exited (${code}) before listening`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const world = (label: string) => `${url}/__fast/worlds/${label}`;
  return {
    url,
    pid: child.pid!,
    putWorld: async (label, options) => control(worldSchema, world(label), "PUT", options),
    deleteWorld: async (label) => void (await control(z.object({ deleted: z.boolean() }), world(label), "DELETE")),
    stats: (label) => control(statsSchema, `${world(label)}/stats`, "GET"),
    resetStats: (label) => control(statsSchema, `${world(label)}/stats/reset`, "POST"),
    stop: () => {
      child.stdin.end();
      child.kill("SIGTERM");
    },
  };
}
