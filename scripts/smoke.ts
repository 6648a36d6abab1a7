/**
 * Smoke test of `npm start`: starts what it starts (on free ports, with fresh local state),
 * enables and connects a tenant with a signed call against the simulator, checks the status
 * says active, and waits for the first events to reach the dev host. Also checks what `npm start`
 * shows: the schedule it fires the cron on (scripts/lib/cron.ts, tested in test/e2e/cron.test.ts),
 * and no secret of .dev.vars on any process's command line. Exits non-zero on failure.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readCrons } from "./lib/cron.ts";
import { callPlugin } from "./lib/signed.ts";
import { readDevVars, root, startStack, until } from "./lib/stack.ts";

/** Longest the first sync may take to put events at the host. */
const EVENTS_TIMEOUT_MS = 90_000;

const stack = await startStack("smoke");

function stop(code: number, message: string): never {
  console.log(message);
  stack.stop();
  process.exit(code);
}
function failed(what: string): never {
  const hidden = existsSync(stack.logFile) ? readFileSync(stack.logFile, "utf8").slice(-6000) : "(none)";
  return stop(1, `smoke: FAILED ${what}\n--- npm start output ---\n${stack.tail(3000)}\n--- its log (${stack.logFile}), last part ---\n${hidden}`);
}

const check = (ok: boolean, what: string, detail = "") => {
  if (!ok) failed(`${what} ${detail}`);
  console.log(`smoke: ok   ${what}`);
};

if (!(await stack.ready())) failed("waiting for npm start to come up");
const secret = stack.secret() ?? "";
const plugin = stack.urls.plugin;
const tenant = `smoke-${Date.now().toString(36)}`;

const schedule = readCrons(`${root}/wrangler.toml`).map((c) => `"${c}"`).join(", ");
check(stack.tail(100_000).includes(`Cron:                 ${schedule} from wrangler.toml, fired by npm start; next at`), `npm start says it fires the cron on ${schedule}`);
const secrets = Object.entries(readDevVars()).filter(([k, v]) => /TOKEN|SECRET|KEY/.test(k) && v.length > 0);
const commandLines = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
const onCommandLine = secrets.filter(([, v]) => commandLines.includes(v)).map(([k]) => k);
check(secrets.length >= 3 && onCommandLine.length === 0, `no secret of .dev.vars (${secrets.map(([k]) => k).join(", ")}) on a command line (ps -eo args)`, onCommandLine.join(", "));
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
const status = await callPlugin<{ status: string; settings: { orgUrl: string } }>(plugin, secret, "GET", `/v1/tenants/${tenant}/status`);
check(status.body.status === "active", "status says active", status.text);
check(status.body.settings.orgUrl === "https://acme.api.cynet.com", "the Organization's URL was normalized", status.body.settings.orgUrl);
const events = await until(async () => {
  const r = await fetch(`${stack.urls.host}/__host/tenants/${tenant}/events`);
  const list = ((await r.json()) as { events: unknown[] }).events;
  return list.length > 0 ? list.length : undefined;
}, EVENTS_TIMEOUT_MS);
if (events === undefined) failed("waiting for the first sync's events at the dev host");
check(events > 0, `the first sync delivered ${events} events to the dev host`);
stop(0, "smoke: passed");
