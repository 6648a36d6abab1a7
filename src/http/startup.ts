/** Once-per-isolate checks of the configuration. */
import type { MiddlewareHandler } from "hono";
import type { Env } from "../env";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
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

/** Hostnames that name the machine the Worker runs on: a host API there is a development stack's. */
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0)$/i;

/**
 * What is wrong with HOST_API_URL for a Worker serving `requestUrl`, or undefined: it must be
 * set, an http(s) URL, and not on loopback unless the Worker itself is served from loopback
 * (wrangler dev, the local stack). A loopback host API in a deployed Worker is wrangler.toml's
 * old development value shipped by mistake: every delivery would go nowhere.
 */
export function hostApiUrlProblem(env: Env, requestUrl: string): string | undefined {
  if (!env.HOST_API_URL) return "HOST_API_URL is not set";
  let url: URL;
  try {
    url = new URL(env.HOST_API_URL);
  } catch {
    return "HOST_API_URL is not a URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "HOST_API_URL is not an http(s) URL";
  if (LOOPBACK_HOST.test(url.hostname) && !LOOPBACK_HOST.test(new URL(requestUrl).hostname)) {
    return "HOST_API_URL points at the Worker's own machine (a development value) while the Worker is not served locally";
  }
  return undefined;
}

/**
 * Refuses the tenant routes with 503 not_configured while HOST_API_URL is wrong, so no tenant is
 * enabled or connected whose events could never be delivered; logs the problem once per isolate
 * (without the URL itself). Health and the manifest keep answering.
 */
export function requireHostApiUrl(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const problem = hostApiUrlProblem(c.env, c.req.url);
    if (problem) {
      if (!reported.has(problem)) {
        reported.add(problem);
        logLine("error", "the Worker's HOST_API_URL is invalid; tenant routes answer 503 until it is fixed", { problem });
      }
      throw new ApiError(503, "not_configured", "The Cynet channel's HOST_API_URL is missing or is a development value. Ask the operator to set it to the host API's address.");
    }
    await next();
  };
}
