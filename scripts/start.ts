/**
 * `npm start`: the whole channel on this machine. Applies the local D1 migrations, then runs
 * the Cynet simulator, the dev host and the plugin (with `--test-scheduled`) under
 * `wrangler dev`, and prints what to open. Ctrl-C stops all three. Secrets stay off command
 * lines: the plugin reads them from .dev.vars, the dev host gets its HOST_SIGNING_SECRET in a file.
 *
 * Options (environment): PLUGIN_PORT (8787), CYNET_SIM_PORT (8789), DEV_HOST_PORT (8790),
 * PERSIST_TO (wrangler's local state folder, default .wrangler/state).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { devVarsPath, migrateLocalD1, readDevVars, root, toolEnv, until } from "./lib/stack.ts";

const ports = {
  plugin: Number(process.env.PLUGIN_PORT ?? 8787),
  cynet: Number(process.env.CYNET_SIM_PORT ?? 8789),
  host: Number(process.env.DEV_HOST_PORT ?? 8790),
};
const persistTo = resolve(root, process.env.PERSIST_TO ?? ".wrangler/state");
const env = toolEnv();

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
    console.log(`wrote ${devVarsPath} (development secrets)`);
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

function run(name: string, args: string[]): ChildProcess {
  const child = spawn("wrangler", args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const prefix = (chunk: Buffer) =>
    chunk
      .toString()
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => `[${name}] ${l}`)
      .join("\n");
  child.stdout?.on("data", (c: Buffer) => console.log(prefix(c)));
  child.stderr?.on("data", (c: Buffer) => console.error(prefix(c)));
  child.on("exit", (code) => {
    if (!stopping) {
      console.error(`[${name}] exited with ${code}; stopping everything`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
function stop(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) {
    try {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  setTimeout(() => process.exit(code), 500);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

async function waitFor(url: string, what: string): Promise<void> {
  const up = await until(async () => ((await fetch(url)).ok ? true : undefined), 90_000);
  if (!up) throw new Error(`${what} did not come up at ${url}`);
}

const vars = ensureDevVars();
// The readiness line other tools (the smoke test, the E2E test) wait for is printed last.
const migrate = migrateLocalD1(persistTo, true);
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

// Each Worker keeps its state in its own folder: three runtimes sharing one SQLite folder lock each other out.
run("cynet-sim", ["dev", "-c", "dev/cynet-sim/wrangler.toml", "--ip", "127.0.0.1", "--port", String(ports.cynet), "--persist-to", join(persistTo, "cynet-sim"), "--inspector-port", "0", "--show-interactive-dev-session=false"]);
run("dev-host", [
  "dev", "-c", "dev/host/wrangler.toml", "--ip", "127.0.0.1", "--port", String(ports.host), "--persist-to", join(persistTo, "dev-host"), "--inspector-port", "0", "--show-interactive-dev-session=false",
  "--var", `PLUGIN_URL:http://127.0.0.1:${ports.plugin}`,
  "--env-file", devHostSecretsFile(vars.HOST_SIGNING_SECRET ?? ""),
]);
run("plugin", [
  "dev", "--test-scheduled", "--ip", "127.0.0.1", "--port", String(ports.plugin), "--persist-to", persistTo, "--inspector-port", "0", "--show-interactive-dev-session=false",
  // The ports of this run win over whatever an older .dev.vars says.
  "--var", `HOST_API_URL:http://127.0.0.1:${ports.host}`,
  "--var", `CYNET_ORIGIN_OVERRIDE:http://127.0.0.1:${ports.cynet}`,
]);

try {
  await Promise.all([
    waitFor(`http://127.0.0.1:${ports.cynet}/__sim/health`, "Cynet simulator"),
    waitFor(`http://127.0.0.1:${ports.host}/__host/health`, "dev host"),
    waitFor(`http://127.0.0.1:${ports.plugin}/healthz`, "plugin"),
  ]);
} catch (err) {
  console.error(String(err));
  stop(1);
}
console.log(`
Cynet channel is running.
  Dev host (click through the flow): http://127.0.0.1:${ports.host}/
  Plugin:                            http://127.0.0.1:${ports.plugin}/healthz   (OpenAPI: /v1/openapi.json)
  Cynet simulator:                   http://127.0.0.1:${ports.cynet}/__sim/health
  Run the cron now:                  curl "http://127.0.0.1:${ports.plugin}/__scheduled?cron=*/5+*+*+*+*"
  Signed call from a shell:          npm run sign -- GET /v1/tenants/acme/status
Simulated Cynet login: any org URL (e.g. acme.cynet.com), Client ID 123456, operator@acme.example / Operator-Pass-1
Ctrl-C stops everything.`);
