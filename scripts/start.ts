/**
 * `npm start`: the whole channel on this machine. Applies the local D1 migrations, then runs
 * the Cynet simulator, the dev host and the plugin (with `--test-scheduled`) under
 * `wrangler dev`, fires the plugin's cron on the schedule wrangler.toml declares (wrangler dev
 * never does: scripts/lib/cron.ts), and prints what to open. Ctrl-C stops all of it.
 *
 * Quiet by default: wrangler's and the Workers' output goes to a log file (its path is printed;
 * `.wrangler/npm-start.log`, or `npm-start.log` in PERSIST_TO when that is set); the screen shows
 * where things run, one line per cron tick, and errors. START_VERBOSE=1 streams everything too.
 *
 * Secrets stay off command lines: the plugin reads them from .dev.vars (wrangler dev reads it
 * beside wrangler.toml), the dev host gets its HOST_SIGNING_SECRET in a 0600 --env-file. Only
 * the URLs of this run's ports go on command lines (--var).
 *
 * Options (environment): PLUGIN_PORT (8787), CYNET_SIM_PORT (8789), DEV_HOST_PORT (8790),
 * PERSIST_TO (wrangler's local state folder, default .wrangler/state), START_VERBOSE (0),
 * START_LOG_FILE (where the hidden output goes).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { clockTime, fireScheduled, readCrons, startCronTicker, type CronTicker } from "./lib/cron.ts";
import { devVarsPath, migrateLocalD1, READY_LINE, readDevVars, root, toolEnv, until } from "./lib/stack.ts";

const ports = {
  plugin: Number(process.env.PLUGIN_PORT ?? 8787),
  cynet: Number(process.env.CYNET_SIM_PORT ?? 8789),
  host: Number(process.env.DEV_HOST_PORT ?? 8790),
};
const persistTo = resolve(root, process.env.PERSIST_TO ?? ".wrangler/state");
const env = toolEnv();
const verbose = process.env.START_VERBOSE === "1";
const logPath = resolve(root, process.env.START_LOG_FILE || (process.env.PERSIST_TO ? join(persistTo, "npm-start.log") : ".wrangler/npm-start.log"));
mkdirSync(dirname(logPath), { recursive: true });
const log = createWriteStream(logPath, { flags: "w" });
/** The log's path as a newcomer would type it (relative when it is inside the project). */
const logShown = logPath.startsWith(root) ? relative(root, logPath) : logPath;
/** How many of a Worker's last output lines are shown when it exits on its own (the rest are in the log). */
const LAST_LINES_SHOWN = 25;

/**
 * Lines shown even when quiet: wrangler's errors (✘ [ERROR]), the Workers' error and alert log
 * lines, uncaught exceptions; lines indented under one of them (a stack) follow it.
 */
const ANSI_CODE = /\x1b\[[0-9;]*m/g;
const ERROR_LINE = /✘|\[ERROR\]|"level":"(error|alert)"|Uncaught|^\s*\w*Error\b|EADDRINUSE/;

/** Writes a development .dev.vars (host contract §6) unless one exists; never overwrites. */
function ensureDevVars(): Record<string, string> {
  if (!existsSync(devVarsPath)) {
    const vars = [
      "# Development values written by `npm start`. Never use them in production.",
      `HOST_API_URL=http://127.0.0.1:${ports.host}`,
      "HOST_API_TOKEN=dev-host-token",
      `HOST_SIGNING_SECRET=${randomBytes(24).toString("hex")}`,
      `CREDENTIALS_KEY=${randomBytes(32).toString("base64")}`,
      `CYNET_ORIGIN_OVERRIDE=http://127.0.0.1:${ports.cynet}`,
      "",
    ];
    writeFileSync(devVarsPath, vars.join("\n"), { mode: 0o600 });
    console.log(`Wrote ${relative(root, devVarsPath)} (development secrets; kept for the next runs).`);
  }
  return readDevVars(devVarsPath);
}

/**
 * The dev host's HOST_SIGNING_SECRET, in a file only this user can read (wrangler's --env-file),
 * so the secret is not on wrangler's command line for every process listing to show. Removed on exit.
 */
function devHostSecretsFile(secret: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cynet-dev-host-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "secrets.env");
  writeFileSync(file, `HOST_SIGNING_SECRET=${secret}\n`, { mode: 0o600 });
  return file;
}

const children: ChildProcess[] = [];

/** Splits a stream into whole lines (a line may arrive in two chunks) and hands each to `onLine`. */
function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let pending = "";
  stream?.on("data", (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) onLine(line.replace(/\r$/, ""));
  });
  stream?.on("end", () => pending && onLine(pending));
}

function run(name: string, args: string[]): ChildProcess {
  const child = spawn("wrangler", args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  /** Its last lines, shown when it exits on its own. */
  const kept: string[] = [];
  for (const [stream, toConsole] of [[child.stdout, console.log], [child.stderr, console.error]] as const) {
    let inError = false;
    lines(stream, (raw) => {
      // Colours off: the log is read in an editor, and the filter reads the words.
      const line = raw.replace(ANSI_CODE, "");
      if (line.trim() === "") return;
      const shown = `[${name}] ${line}`;
      log.write(`${shown}\n`);
      kept.push(shown);
      if (kept.length > LAST_LINES_SHOWN) kept.shift();
      inError = ERROR_LINE.test(line) || (inError && /^\s/.test(line));
      if (verbose || inError) toConsole(shown);
    });
  }
  child.on("exit", (code) => {
    if (!stopping) {
      if (!verbose) console.error(`[${name}] its last lines:\n${kept.join("\n")}`);
      console.error(`[${name}] exited with ${code}; stopping everything (its whole output: ${logShown})`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

let ticker: CronTicker | undefined;
let stopping = false;
function stop(code = 0): void {
  if (stopping) return;
  stopping = true;
  ticker?.stop();
  for (const child of children) {
    try {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  setTimeout(() => log.end(() => process.exit(code)), 500);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (!stopping) console.log("Stopping the Cynet simulator, the dev host and the plugin.");
    stop(0);
  });
}

/** Longest a Worker may take to answer its health check once wrangler has started it. */
const WORKER_STARTUP_TIMEOUT_MS = 90_000;
async function waitFor(url: string, what: string): Promise<void> {
  const up = await until(async () => ((await fetch(url)).ok ? true : undefined), WORKER_STARTUP_TIMEOUT_MS);
  if (!up) throw new Error(`${what} did not come up at ${url}`);
}

// The schedule is read first: a wrangler.toml without one is said before anything starts.
const crons = readCrons(join(root, "wrangler.toml"));
const vars = ensureDevVars();

// Migrations are answered non-interactively (no prompt waits on a terminal); their output goes to the log.
const migrate = migrateLocalD1(persistTo, false);
log.write(`[migrations] ${migrate.stdout ?? ""}${migrate.stderr ?? ""}\n`);
if (migrate.status !== 0) {
  console.error(`Applying the local D1 migrations failed:\n${migrate.stdout ?? ""}${migrate.stderr ?? ""}`);
  process.exit(migrate.status ?? 1);
}
const applied = /About to apply (\d+) migration/.exec(migrate.stdout ?? "")?.[1];
console.log(`Local D1 (${relative(root, persistTo) || "."}): ${applied ? `${applied} migration(s) applied` : "migrations up to date"}.`);
console.log(`Starting the Cynet simulator, the dev host and the plugin (wrangler dev; their output: ${logShown})...`);

const at = (port: number) => `http://127.0.0.1:${port}`;
// Each Worker keeps its state in its own folder: three runtimes sharing one SQLite folder lock each other out.
run("cynet-sim", ["dev", "-c", "dev/cynet-sim/wrangler.toml", "--ip", "127.0.0.1", "--port", String(ports.cynet), "--persist-to", join(persistTo, "cynet-sim"), "--inspector-port", "0", "--show-interactive-dev-session=false"]);
run("dev-host", [
  "dev", "-c", "dev/host/wrangler.toml", "--ip", "127.0.0.1", "--port", String(ports.host), "--persist-to", join(persistTo, "dev-host"), "--inspector-port", "0", "--show-interactive-dev-session=false",
  "--var", `PLUGIN_URL:${at(ports.plugin)}`,
  "--env-file", devHostSecretsFile(vars.HOST_SIGNING_SECRET ?? ""),
]);
run("plugin", [
  "dev", "--test-scheduled", "--ip", "127.0.0.1", "--port", String(ports.plugin), "--persist-to", persistTo, "--inspector-port", "0", "--show-interactive-dev-session=false",
  // The ports of this run win over whatever an older .dev.vars says (URLs only: no secret goes here).
  "--var", `HOST_API_URL:${at(ports.host)}`,
  "--var", `CYNET_ORIGIN_OVERRIDE:${at(ports.cynet)}`,
]);

try {
  await Promise.all([
    waitFor(`${at(ports.cynet)}/__sim/health`, "Cynet simulator"),
    waitFor(`${at(ports.host)}/__host/health`, "dev host"),
    waitFor(`${at(ports.plugin)}/healthz`, "plugin"),
  ]);
} catch (err) {
  console.error(`${String(err)} (the Workers' output: ${logShown})`);
  stop(1);
}
if (!stopping) {
  ticker = startCronTicker({
    crons,
    fire: (cron, time) => fireScheduled(at(ports.plugin), cron, time),
    report: (line) => {
      console.log(line);
      log.write(`[cron] ${line}\n`);
    },
  });
  const next = ticker.next();
  const cronNow = `curl "${at(ports.plugin)}/__scheduled?cron=${crons[0]!.replaceAll(" ", "+")}"`;
  // READY_LINE first: the smoke test, the soak and the E2E test wait for it.
  console.log(`
${READY_LINE}.
  Dev host, open this:  ${at(ports.host)}/   (Settings > Bundles and Channels, Events, Scans, IR Requests, Response Actions)
  Plugin:               ${at(ports.plugin)}/healthz   (also /v1/manifest, /v1/openapi.json)
  Cynet simulator:      ${at(ports.cynet)}/__sim/health
  Cron:                 ${crons.map((c) => `"${c}"`).join(", ")} from wrangler.toml, fired by npm start; next at ${next ? clockTime(next) : "?"}
                        (run it now: ${cronNow})
  Signed call:          npm run sign -- GET /v1/tenants/acme/status
  Cynet login:          any org URL (e.g. acme.cynet.com), Client ID 123456, operator@acme.example / Operator-Pass-1
  Log:                  ${logShown}   (wrangler's and the Workers' output; errors also show here)
Ctrl-C stops everything.`);
}
