/**
 * `npm run sign -- METHOD PATH [JSON]`: one signed call to the local plugin, as the host makes it.
 * Reads HOST_SIGNING_SECRET from .dev.vars; PLUGIN_URL defaults to http://127.0.0.1:8787.
 *
 *   npm run sign -- PUT /v1/tenants/acme/enablement '{"enabled":true,"bundles":["endpoint-protection"]}'
 */
import { callPlugin } from "./lib/signed.ts";
import { readDevVars } from "./lib/stack.ts";

const [method, path, json] = process.argv.slice(2);
if (!method || !path) {
  console.error("usage: npm run sign -- METHOD PATH [JSON body]");
  process.exit(2);
}
const secret = process.env.HOST_SIGNING_SECRET ?? readDevVars().HOST_SIGNING_SECRET;
if (!secret) {
  console.error("No HOST_SIGNING_SECRET: run `npm start` once (it writes .dev.vars) or export it.");
  process.exit(2);
}
const { status, text } = await callPlugin(process.env.PLUGIN_URL ?? "http://127.0.0.1:8787", secret, method, path, json === undefined ? undefined : JSON.parse(json));
console.log(status);
try {
  console.log(JSON.stringify(JSON.parse(text), null, 2));
} catch {
  console.log(text);
}
process.exit(status >= 400 ? 1 : 0);
