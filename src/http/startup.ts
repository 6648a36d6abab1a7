/** Once-per-isolate checks of the configuration. */
import type { Env } from "../env";
import { logLine } from "../observability/log";
import { DatabaseConfigError, tenantDatabases } from "../storage/directory";

let warned = false;

/** Logs, once per isolate, that CYNET_ORIGIN_OVERRIDE is set: every Cynet call goes to that origin. */
export function warnIfDevelopmentOverride(env: Env): void {
  if (warned || !env.CYNET_ORIGIN_OVERRIDE) return;
  warned = true;
  console.warn(
    JSON.stringify({ level: "warn", msg: "CYNET_ORIGIN_OVERRIDE is set: every Cynet call goes to this origin. Development only; never set it in production.", origin: env.CYNET_ORIGIN_OVERRIDE }),
  );
}

/** Configuration problems already logged by this isolate, so each is one line, not one a request. */
const reported = new Set<string>();

/**
 * Checks TENANT_DATABASES against the Worker's bindings and logs what is wrong, once per
 * isolate and problem. The tenant routes then answer 503 not_configured (http/errors.ts); the
 * public routes (health, manifest) keep answering.
 */
export function reportDatabaseConfiguration(env: Env): void {
  try {
    tenantDatabases(env);
  } catch (err) {
    if (!(err instanceof DatabaseConfigError) || reported.has(err.message)) return;
    reported.add(err.message);
    logLine("error", "the Worker's D1 configuration is invalid; tenant routes answer 503 until it is fixed", { error: err });
  }
}
