import { Hono, type Context } from "hono";
import { z } from "zod";
import { SIMULATED_DETAIL_MARKER } from "../shared/faults";
import { parseBody, parseQuery } from "../shared/http";
import { fileRecord } from "./files";
import { getWorld, worldLabel, type CynetEndpoint, type World } from "./world";

/** Largest page: Cynet publishes no maximum, 1000 is our choice (cynet-api.md). */
export const MAX_LIMIT = 1_000;
/** Page size when the client sends no Limit: the size public integrations use. */
const DEFAULT_LIMIT = 100;
/**
 * Longest credential the token call reads; past it the call is refused as malformed (400).
 * Above the plugin's own bounds (254-character username, 1024-character password), so whatever
 * an admin may type gets Cynet's answer to the credentials (401 when wrong), never a 400 that
 * the plugin would read as a wrong URL.
 */
const MAX_CREDENTIAL_LENGTH = 4096;
/** The three LastSeen spellings cynet-api.md lists: `…Z`, `….123Z` and `YYYY-MM-DD HH:MM:SS`. */
const LAST_SEEN_PATTERN = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z| \d{2}:\d{2}:\d{2})$/;

/** Body of the token call (exported for the benchmark's Node Cynet, scripts/bench/fast-cynet-server.ts, which answers as this simulator does). */
export const tokenRequestSchema = z.object({
  user_name: z.string().min(1).max(MAX_CREDENTIAL_LENGTH),
  password: z.string().min(1).max(MAX_CREDENTIAL_LENGTH),
});

const digits = z.string().regex(/^\d+$/, "expected a whole number");

const lastSeenSchema = z
  .string()
  .regex(LAST_SEEN_PATTERN, "expected 2026-05-09T14:21:43Z, 2026-05-09T14:21:43.123Z or 2026-05-09 14:21:43")
  .transform((value, ctx) => {
    const utc = value.includes(" ") ? `${value.replace(" ", "T")}Z` : value;
    const ms = Date.parse(utc);
    // Date.parse accepts 2026-02-31; the round trip catches dates that do not exist.
    if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 19) !== utc.slice(0, 19)) {
      ctx.addIssue({ code: "custom", message: "not a real date and time" });
      return z.NEVER;
    }
    return ms;
  });

/** Query of `alerts/bulk` and `alerts/bulkByDateChanged`: its paging semantics (exported for the benchmark's Node Cynet). */
export const alertsQuerySchema = z.object({
  LastSeen: lastSeenSchema,
  Limit: digits.transform(Number).pipe(z.number().int().min(1).max(MAX_LIMIT)).default(DEFAULT_LIMIT),
  Offset: digits.transform(Number).pipe(z.number().int().min(0)).default(0),
});

/** Query of `full/file` (exported for the benchmark's Node Cynet). */
export const fileQuerySchema = z.object({
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "expected 64 hex characters"),
});

/** A Cynet-style error body (carries the marker tests look for). */
export function cynetError(status: 400 | 401 | 403 | 404, error: string, message: string): Response {
  const body = { error, message, detail: SIMULATED_DETAIL_MARKER };
  return Response.json(body, { status });
}

/** Counts the call and applies the world's faults; returns the fault's answer, if any. */
async function enter(c: Context, endpoint: CynetEndpoint): Promise<{ world: World; fault: Response | null }> {
  const world = getWorld(worldLabel(c.req.raw), Date.now());
  // Analysts' scheduled decisions (a world's switch) are made as Cynet is asked, at the times they were due.
  world.decideDue(Date.now());
  world.counters[endpoint] += 1;
  return { world, fault: await world.faults.apply(endpoint) };
}

/** Checks the `access_token` (401) and `client_id` (403) headers. */
export function refuse(c: Context, world: World): Response | null {
  if (!world.tokenValid(c.req.header("access_token"), Date.now())) {
    return cynetError(401, "unauthorized", "access token missing, unknown or expired");
  }
  if (c.req.header("client_id") !== world.config.clientId) {
    return cynetError(403, "forbidden", "client_id does not match this tenant");
  }
  return null;
}

/** The Cynet API routes (`/api/...`). */
export const cynetApi = new Hono();

cynetApi.post("/api/account/token", async (c) => {
  const { world, fault } = await enter(c, "token");
  if (fault !== null) return fault;
  const body = await parseBody(c.req.raw, tokenRequestSchema);
  const user = world.findUser(body.user_name);
  if (user === undefined || user.password !== body.password) {
    return cynetError(401, "invalid_credentials", "wrong user name or password");
  }
  if (!user.apiPermission) return cynetError(403, "no_api_permission", "user lacks API permission");
  return c.json({ access_token: world.issueToken(Date.now()) });
});

cynetApi.get("/api/alerts/bulk", async (c) => {
  const { world, fault } = await enter(c, "alerts");
  if (fault !== null) return fault;
  const refusal = refuse(c, world);
  if (refusal !== null) return refusal;
  const query = parseQuery(c.req.url, alertsQuerySchema);
  const syncTime = new Date(Date.now() + world.config.syncTimeAheadSeconds * 1000).toISOString();
  return c.json({ SyncTimeUtc: syncTime, Entities: world.page(query.LastSeen, query.Offset, world.config.pageSize ?? query.Limit) });
});

/**
 * Alerts changed since `LastSeen` (cynet-api.md, "Alerts that change", our inferred guess): the
 * parameters and envelope of `alerts/bulk`, alerts whose DateChanged is at or after LastSeen,
 * ordered by DateChanged then ClientDbId. A world with `changedAlertsUnavailable` answers 404
 * before looking at the token, as a Cynet without the route would.
 */
cynetApi.get("/api/alerts/bulkByDateChanged", async (c) => {
  const { world, fault } = await enter(c, "changes");
  if (fault !== null) return fault;
  if (world.config.changedAlertsUnavailable) return cynetError(404, "not_found", "no such route");
  const refusal = refuse(c, world);
  if (refusal !== null) return refusal;
  const query = parseQuery(c.req.url, alertsQuerySchema);
  const syncTime = new Date(Date.now() + world.config.syncTimeAheadSeconds * 1000).toISOString();
  return c.json({ SyncTimeUtc: syncTime, Entities: world.changedPage(query.LastSeen, query.Offset, world.config.pageSize ?? query.Limit) });
});

cynetApi.get("/api/full/file", async (c) => {
  const { world, fault } = await enter(c, "file");
  if (fault !== null) return fault;
  const refusal = refuse(c, world);
  if (refusal !== null) return refusal;
  const { sha256 } = parseQuery(c.req.url, fileQuerySchema);
  const hash = sha256.toLowerCase();
  const now = Date.now();
  const file = world.knowsFile(hash, now);
  if (file === undefined) return cynetError(404, "not_found", "no file with this sha256");
  return c.json(fileRecord(file, world.alerts, world.placedOccurrences(hash, now)));
});
