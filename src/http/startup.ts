/** Once-per-isolate checks of the configuration. */
import type { Env } from "../env";

let warned = false;

/** Logs, once per isolate, that CYNET_ORIGIN_OVERRIDE is set: every Cynet call goes to that origin. */
export function warnIfDevelopmentOverride(env: Env): void {
  if (warned || !env.CYNET_ORIGIN_OVERRIDE) return;
  warned = true;
  console.warn(
    JSON.stringify({ level: "warn", msg: "CYNET_ORIGIN_OVERRIDE is set: every Cynet call goes to this origin. Development only; never set it in production.", origin: env.CYNET_ORIGIN_OVERRIDE }),
  );
}
