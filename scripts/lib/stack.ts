/**
 * The local stack, shared by the scripts that run it: `npm start` (scripts/start.ts) and the
 * ones that start it as a child exactly as a developer does (smoke, soak), plus what the
 * benchmark needs of the same set-up (the tools' environment, the local D1 migrations, the
 * plugin's D1 file).
 *
 * startStack() runs scripts/start.ts in its own process group (detached: setsid), on free
 * ports, with a fresh state folder, and tears it down on every way out: stop(), process exit,
 * SIGINT and SIGTERM. start.ts in turn stops its three wrangler process groups on SIGTERM.
 * Secrets never go on a command line: start.ts reads and writes them in .dev.vars (and hands
 * the dev host its secret in a file); a .dev.vars that a run caused to be written is removed
 * when the run ends, so the developer's tree is left as it was.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const root = resolve(import.meta.dirname, "../..");
/** The plugin's local secrets (host contract §6), next to its wrangler.toml. */
export const devVarsPath = join(root, ".dev.vars");
/** What scripts/start.ts prints last, once the three Workers answer. */
export const READY_LINE = "Cynet channel is running";
/** Longest the whole stack may take to come up on a cold machine. */
const STARTUP_TIMEOUT_MS = 180_000;
/** How much of the stack's output is kept for a look after a failure. */
const OUTPUT_KEPT_CHARS = 200_000;

/**
 * The environment wrangler runs in: the project's own tools first, no Cloudflare metrics or cf
 * fetch, and no banner (wrangler's version line and its "update available" check: the version
 * is the one package-lock.json pins, and this machine may not reach the registry).
 */
export function toolEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_HIDE_BANNER: "true",
    PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH}`,
  };
}

/** Applies the plugin's D1 migrations to the local state in `persistTo`; `show` passes wrangler's output through. */
export function migrateLocalD1(persistTo: string, show: boolean) {
  return spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], { cwd: root, env: toolEnv(), encoding: "utf8", stdio: show ? "inherit" : "pipe" });
}

/** The plugin's local D1 database file under `persistTo` (miniflare keeps one SQLite file per database). */
export function pluginD1File(persistTo: string): string {
  const dir = join(persistTo, "v3", "d1", "miniflare-D1DatabaseObject");
  const file = readdirSync(dir).find((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (!file) throw new Error(`the plugin's D1 file is not in ${dir}`);
  return join(dir, file);
}

/** KEY=value pairs of a .dev.vars file ({} when there is none). */
export function readDevVars(path = devVarsPath): Record<string, string> {
  const vars: Record<string, string> = {};
  if (!existsSync(path)) return vars;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) vars[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? ok(address.port) : fail(new Error("no port"))));
    });
  });
}

/** Polls `probe` every `everyMs` until it returns a value; undefined after `timeoutMs`. A probe that throws counts as not yet. */
export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return undefined;
}

export interface LocalStack {
  ports: { plugin: number; cynet: number; host: number };
  urls: { plugin: string; cynet: string; host: string };
  /** The stack's state folder (wrangler's --persist-to); left for the caller to keep or remove. */
  persistTo: string;
  /** Where start.ts writes the output it does not show (wrangler's and the Workers'): npm-start.log in persistTo. */
  logFile: string;
  /** Waits for READY_LINE; false when start.ts exited first or took longer than STARTUP_TIMEOUT_MS. */
  ready(): Promise<boolean>;
  /** The HOST_SIGNING_SECRET the plugin verifies with, from .dev.vars (there once the stack is up). */
  secret(): string | undefined;
  /** The last `chars` characters of the stack's output. */
  tail(chars: number): string;
  /** Stops the stack (its process group) and removes a .dev.vars this run caused; once, idempotent. */
  stop(): void;
}

/**
 * Starts scripts/start.ts as `npm start` runs it, on free ports, with a fresh state folder in the
 * system's temp folder named after `name`; `onOutput` sees each chunk of its output as it comes.
 * `verbose` has start.ts stream wrangler's and the Workers' output too (START_VERBOSE=1), for
 * callers that read the Workers' log lines (the soak); otherwise the output is what `npm start` shows.
 */
export async function startStack(name: string, onOutput?: (text: string) => void, options: { verbose?: boolean } = {}): Promise<LocalStack> {
  const ports = { plugin: await freePort(), cynet: await freePort(), host: await freePort() };
  const persistTo = mkdtempSync(join(tmpdir(), `cynet-${name}-`));
  /** start.ts writes a development .dev.vars when there is none; one this run caused goes at the end. */
  const wroteDevVars = !existsSync(devVarsPath);
  const child = spawn(process.execPath, [join(root, "scripts/start.ts")], {
    cwd: root,
    env: { ...process.env, PLUGIN_PORT: String(ports.plugin), CYNET_SIM_PORT: String(ports.cynet), DEV_HOST_PORT: String(ports.host), PERSIST_TO: persistTo, START_VERBOSE: options.verbose ? "1" : "0", START_LOG_FILE: join(persistTo, "npm-start.log") },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  let up = false;
  let exited = false;
  const take = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-OUTPUT_KEPT_CHARS);
    if (!up && output.includes(READY_LINE)) up = true;
    onOutput?.(text);
  };
  child.stdout.on("data", take);
  child.stderr.on("data", take);
  child.on("exit", () => (exited = true));

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    if (wroteDevVars) rmSync(devVarsPath, { force: true });
  };
  process.on("exit", stop);
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      stop();
      process.exit(code);
    });
  }

  const at = (port: number) => `http://127.0.0.1:${port}`;
  return {
    ports,
    urls: { plugin: at(ports.plugin), cynet: at(ports.cynet), host: at(ports.host) },
    persistTo,
    logFile: join(persistTo, "npm-start.log"),
    ready: async () => (await until(async () => (up ? true : exited ? false : undefined), STARTUP_TIMEOUT_MS)) ?? false,
    secret: () => readDevVars().HOST_SIGNING_SECRET,
    tail: (chars) => output.slice(-chars),
    stop,
  };
}
