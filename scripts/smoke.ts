/**
 * Smoke test of `npm start`: starts what it starts (on free ports, with fresh local state),
 * enables and connects a tenant with a signed call against the simulator, checks the status
 * says active, and waits for the first events to reach the dev host. Exits non-zero on failure.
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./free-port.ts";
import { callPlugin, readDevVars } from "./host-signing.ts";

/** Longest the whole stack may take to come up on a cold machine. */
const STARTUP_TIMEOUT_MS = 180_000;
/** Longest the first sync may take to put events at the host. */
const EVENTS_TIMEOUT_MS = 90_000;

const root = resolve(import.meta.dirname, "..");


const ports = { plugin: await freePort(), cynet: await freePort(), host: await freePort() };
const child = spawn(process.execPath, [join(root, "scripts/start.ts")], {
  cwd: root,
  env: { ...process.env, PLUGIN_PORT: String(ports.plugin), CYNET_SIM_PORT: String(ports.cynet), DEV_HOST_PORT: String(ports.host), PERSIST_TO: mkdtempSync(join(tmpdir(), "cynet-smoke-")) },
  stdio: ["ignore", "pipe", "pipe"],
  detached: true,
});
let output = "";
child.stdout.on("data", (c: Buffer) => (output += c.toString()));
child.stderr.on("data", (c: Buffer) => (output += c.toString()));

function stop(code: number, message: string): never {
  console.log(message);
  try {
    if (child.pid) process.kill(-child.pid, "SIGTERM");
  } catch {
    // already gone
  }
  process.exit(code);
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 500));
  }
  stop(1, `smoke: FAILED waiting for ${what}\n--- npm start output ---\n${output.slice(-6000)}`);
}

const check = (ok: boolean, what: string, detail = "") => {
  if (!ok) stop(1, `smoke: FAILED ${what} ${detail}\n--- npm start output ---\n${output.slice(-6000)}`);
  console.log(`smoke: ok   ${what}`);
};

await until(async () => (output.includes("Cynet channel is running") ? true : undefined), STARTUP_TIMEOUT_MS, "npm start to come up");
const secret = readDevVars(join(root, ".dev.vars")).HOST_SIGNING_SECRET ?? "";
const plugin = `http://127.0.0.1:${ports.plugin}`;
const tenant = `smoke-${Date.now().toString(36)}`;

const health = await fetch(`${plugin}/healthz`);
check(health.status === 200, "GET /healthz answers 200");
const unsigned = await fetch(`${plugin}/v1/tenants/${tenant}/status`);
check(unsigned.status === 401, "an unsigned tenant call is refused with 401");
const enabled = await callPlugin(plugin, secret, "PUT", `/v1/tenants/${tenant}/enablement`, { enabled: true, bundles: ["endpoint-protection"] });
check(enabled.status === 200, "signed enablement", enabled.text);
const activated = await callPlugin(plugin, secret, "POST", `/v1/tenants/${tenant}/activation`, {
  orgUrl: "ACME.cynet.com/#/dashboard",
  clientId: "123456",
  username: "operator@acme.example",
  password: "Operator-Pass-1",
});
check(activated.status === 200, "signed activation (Connect) against the simulator", activated.text);
check(!activated.text.includes("Operator-Pass-1"), "the password is not in the answer");
const status = await callPlugin(plugin, secret, "GET", `/v1/tenants/${tenant}/status`);
const body = JSON.parse(status.text) as { status: string; settings: { orgUrl: string } };
check(body.status === "active", "status says active", status.text);
check(body.settings.orgUrl === "https://acme.api.cynet.com", "the Organization's URL was normalized", body.settings.orgUrl);
const events = await until(
  async () => {
    const r = await fetch(`http://127.0.0.1:${ports.host}/__host/tenants/${tenant}/events`);
    const list = ((await r.json()) as { events: unknown[] }).events;
    return list.length > 0 ? list.length : undefined;
  },
  EVENTS_TIMEOUT_MS,
  "the first sync's events at the dev host",
);
check(events > 0, `the first sync delivered ${events} events to the dev host`);
stop(0, "smoke: passed");
