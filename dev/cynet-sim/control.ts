import { Hono } from "hono";
import { z } from "zod";
import { faultRuleSchema } from "../shared/faults";
import { parseBody, parseQuery, validate } from "../shared/http";
import { alertInputSchema } from "./alert";
import { STORED_FILE_TYPE } from "./files";
import { alertStatusSchema, deleteWorld, getWorld, resetWorld, worldOptionsSchema, type World } from "./world";

/** Most alerts one append call may generate: enough for a large "new detections" burst. */
const MAX_APPEND_COUNT = 10_000;
/** Most explicit alerts one append call may carry. */
const MAX_APPEND_ALERTS = 1_000;
/** Most ids one touch call may carry. */
const MAX_TOUCH_IDS = 10_000;
/** Most ids one status call may carry: as many as a touch, a bulk triage in one go. */
const MAX_STATUS_IDS = MAX_TOUCH_IDS;
/** World labels are DNS labels, as in `<label>.api.cynet.com`. */
const LABEL_PATTERN = /^[a-z0-9-]{1,63}$/i;

const labelSchema = z.string().regex(LABEL_PATTERN, "expected a DNS label").transform((l) => l.toLowerCase());
const simFaultRuleSchema = faultRuleSchema(["token", "alerts", "changes", "file", "remediation", "remediation_status"]);
const appendSchema = z
  .strictObject({
    count: z.number().int().min(1).max(MAX_APPEND_COUNT).optional(),
    alerts: z.array(alertInputSchema).min(1).max(MAX_APPEND_ALERTS).optional(),
  })
  .refine((b) => (b.count === undefined) !== (b.alerts === undefined), { message: "give either count or alerts", path: ["count"] });
const touchSchema = z.strictObject({ clientDbIds: z.array(z.number().int()).min(1).max(MAX_TOUCH_IDS) });
const statusSchema = z.strictObject({ clientDbIds: z.array(z.number().int()).min(1).max(MAX_STATUS_IDS), status: alertStatusSchema });
/** Most files one whitelist call names. */
const MAX_WHITELIST_FILES = 100;
const whitelistSchema = z.strictObject({
  sha256s: z.array(z.string().regex(/^[0-9a-fA-F]{64}$/, "expected 64 hex characters")).min(1).max(MAX_WHITELIST_FILES),
  whitelisted: z.boolean(),
});
const digits = z.string().regex(/^\d+$/, "expected a whole number").transform(Number);
const listQuerySchema = z.strictObject({ offset: digits.optional(), limit: digits.optional() });
/** Longest host name, path, user or time an occurrence takes: far beyond real ones. */
const MAX_OCCURRENCE_TEXT = 2_048;
const occurrenceText = z.string().min(1).max(MAX_OCCURRENCE_TEXT);
const sha256Schema = z.string().regex(/^[0-9a-fA-F]{64}$/, "expected 64 hex characters").transform((h) => h.toLowerCase());
/** Body of `POST /__sim/worlds/:label/files/:sha256/occurrences`: the file on one endpoint, from `appearsAt` (default: now). */
const occurrenceSchema = z.strictObject({
  hostname: occurrenceText,
  full_path: occurrenceText,
  filename: occurrenceText.optional(),
  file_type: z.string().max(MAX_OCCURRENCE_TEXT).default(STORED_FILE_TYPE),
  creation_time: occurrenceText.nullable().optional(),
  last_run_time: occurrenceText.nullable().optional(),
  owner_user: occurrenceText.nullable().optional(),
  running_user: occurrenceText.nullable().optional(),
  appearsAt: z.iso.datetime({ offset: true }).optional(),
});

function describe(world: World, nowMs: number) {
  const { users, epochMs, ...rest } = world.config;
  return {
    label: world.label,
    config: {
      ...rest,
      epoch: new Date(epochMs).toISOString(),
      users: users.map((u) => ({ username: u.username, apiPermission: u.apiPermission })),
    },
    alerts: world.alerts.length,
    files: world.files.size,
    counters: world.counters,
    liveTokens: world.liveTokens(nowMs),
    faults: world.faults.entries(),
  };
}

function labelOf(raw: string): string {
  return validate(labelSchema, raw, "label");
}

/** The simulator's control API (`/__sim/...`). */
export const control = new Hono();

control.get("/__sim/health", (c) => c.json({ ok: true }));

control.put("/__sim/worlds/:label", async (c) => {
  const label = labelOf(c.req.param("label"));
  const options = await parseBody(c.req.raw, worldOptionsSchema);
  const now = Date.now();
  return c.json(describe(resetWorld(label, options, now), now));
});

control.get("/__sim/worlds/:label", (c) => {
  const now = Date.now();
  return c.json(describe(getWorld(labelOf(c.req.param("label")), now), now));
});

control.delete("/__sim/worlds/:label", (c) => c.json({ deleted: deleteWorld(labelOf(c.req.param("label"))) }));

control.get("/__sim/worlds/:label/alerts", (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  const { offset = 0, limit = world.alerts.length } = parseQuery(c.req.url, listQuerySchema);
  return c.json({ total: world.alerts.length, alerts: world.alerts.slice(offset, offset + limit) });
});

control.post("/__sim/worlds/:label/alerts", async (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  const body = await parseBody(c.req.raw, appendSchema);
  const added = body.alerts === undefined ? world.appendGenerated(body.count ?? 0, Date.now()) : world.append(body.alerts, Date.now());
  return c.json({ alerts: added }, 201);
});

control.post("/__sim/worlds/:label/alerts/touch", async (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  const { clientDbIds } = await parseBody(c.req.raw, touchSchema);
  const missing = world.touch(clientDbIds, Date.now());
  if (missing.length > 0) return c.json({ error: "unknown_alert", message: `no alert with ClientDbId ${missing.join(", ")}`, missing }, 404);
  return c.json({ touched: clientDbIds });
});

/** An analyst's decision: sets the alerts' Status and moves their DateChanged to now (their LastSeen stays). */
control.post("/__sim/worlds/:label/alerts/status", async (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  const { clientDbIds, status } = await parseBody(c.req.raw, statusSchema);
  const result = world.setStatus(clientDbIds, status, Date.now());
  if ("missing" in result) {
    return c.json({ error: "unknown_alert", message: `no alert with ClientDbId ${result.missing.join(", ")}`, missing: result.missing }, 404);
  }
  return c.json({ alerts: result.changed });
});

/** An analyst whitelists files (or takes them off the list): full/file answers is_whitelisted accordingly. */
control.post("/__sim/worlds/:label/files/whitelist", async (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  const { sha256s, whitelisted } = await parseBody(c.req.raw, whitelistSchema);
  const missing = sha256s.map((h) => h.toLowerCase()).filter((h) => !world.files.has(h));
  if (missing.length > 0) return c.json({ error: "unknown_file", message: `no file with sha256 ${missing.join(", ")}`, missing }, 404);
  for (const h of sha256s) world.files.set(h.toLowerCase(), { ...world.files.get(h.toLowerCase())!, whitelisted });
  return c.json({ whitelisted: sha256s.map((h) => h.toLowerCase()), value: whitelisted });
});

/** Places a file on an endpoint: `full/file` lists the occurrence from `appearsAt` on (a file Cynet never saw becomes known then). */
control.post("/__sim/worlds/:label/files/:sha256/occurrences", async (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  const sha256 = validate(sha256Schema, c.req.param("sha256"), "sha256");
  const { appearsAt, ...o } = await parseBody(c.req.raw, occurrenceSchema);
  const now = new Date().toISOString();
  const occurrence = {
    hostname: o.hostname,
    full_path: o.full_path,
    filename: o.filename ?? o.full_path.split(/[\\/]/).at(-1) ?? o.full_path,
    file_type: o.file_type,
    creation_time: o.creation_time ?? now,
    last_run_time: o.last_run_time ?? null,
    owner_user: o.owner_user ?? null,
    running_user: o.running_user ?? null,
  };
  world.placeOccurrence(sha256, occurrence, appearsAt === undefined ? Date.now() : Date.parse(appearsAt));
  return c.json({ sha256, occurrence, appearsAt: appearsAt ?? now }, 201);
});

control.post("/__sim/worlds/:label/faults", async (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  world.faults.add(await parseBody(c.req.raw, simFaultRuleSchema));
  return c.json({ faults: world.faults.entries() }, 201);
});

control.get("/__sim/worlds/:label/faults", (c) => {
  return c.json({ faults: getWorld(labelOf(c.req.param("label")), Date.now()).faults.entries() });
});

control.delete("/__sim/worlds/:label/faults", (c) => {
  return c.json({ cleared: getWorld(labelOf(c.req.param("label")), Date.now()).faults.clear() });
});

control.post("/__sim/worlds/:label/expire-tokens", (c) => {
  const now = Date.now();
  return c.json({ expired: getWorld(labelOf(c.req.param("label")), now).expireTokens(now) });
});

/** Every remediation call the world received (action, host, file, the HTTP status it was answered, the items made), oldest first. */
control.get("/__sim/worlds/:label/remediation/calls", (c) => {
  const world = getWorld(labelOf(c.req.param("label")), Date.now());
  return c.json({ calls: world.remediation.calls, items: [...world.remediation.items.values()].map((i) => ({ id: i.id, action: i.action, host: i.host, polls: i.polls })) });
});
