import { z } from "zod";
import { FaultBook } from "../shared/faults";
import { alertFileHash, type AlertInput, type SimAlert } from "./alert";
import type { Occurrence } from "./files";
import { FIRST_CLIENT_DB_ID, fileForHash, generateAlerts, generateBatch, type SimFile } from "./generate";
import { Draw } from "./prng";
import { RemediationBook } from "./remediation";

/** Largest world: a million-alert backlog for the benchmark, still within one local isolate's memory (about 2 KB an alert). */
export const MAX_ALERT_COUNT = 1_000_000;
/** Most users a world holds: a handful is all a test needs. */
const MAX_USERS = 100;
/** Longest token lifetime: a day covers any expiry test. */
const MAX_TOKEN_TTL_SECONDS = 86_400;
/** Longest username or password: far beyond any real credential. */
const MAX_CREDENTIAL_LENGTH = 256;
/** Largest seed: PRNG seeds are unsigned 32-bit. */
const MAX_SEED = 0xffff_ffff;
/** Largest page a world may force: the simulator's own Limit maximum. */
const MAX_PAGE_SIZE = 1_000;
/** Furthest a world's clock may run ahead: a day covers any skew test. */
const MAX_CLOCK_AHEAD_SECONDS = 86_400;
/** Longest interval between scheduled decisions: a day. */
const MAX_DECISION_INTERVAL_SECONDS = 86_400;
/** Scheduled decisions applied in one call at most: a world left alone for long catches up over a few calls. */
const MAX_DECISIONS_PER_CALL = 100;
/** Statuses a scheduled decision sets, drawn in turn: Ignored most, then re-opened, then Closed. */
const DECIDED_STATUSES = [2, 2, 0, 3] as const;
/** Client ID: digits that fit a signed 64-bit integer (cynet-api.md). */
const CLIENT_ID_PATTERN = /^\d{1,19}$/;
/** Bytes of randomness in an access token: unguessable, like the real opaque ones. */
const TOKEN_BYTES = 24;

const userSchema = z.strictObject({
  username: z.string().min(1).max(MAX_CREDENTIAL_LENGTH),
  password: z.string().min(1).max(MAX_CREDENTIAL_LENGTH),
  apiPermission: z.boolean(),
});

/** Body of `PUT /__sim/worlds/:label`: every field optional, defaults below. */
export const worldOptionsSchema = z.strictObject({
  seed: z.number().int().min(0).max(MAX_SEED).optional(),
  alertCount: z.number().int().min(0).max(MAX_ALERT_COUNT).optional(),
  clientId: z.string().regex(CLIENT_ID_PATTERN, "expected 1 to 19 digits").optional(),
  users: z.array(userSchema).max(MAX_USERS).optional(),
  tokenTtlSeconds: z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS).optional(),
  /** The order alerts are paged in: by id, oldest seen first (an alert seen again moves to the end), or newest seen first. */
  ordering: z.enum(["id_asc", "last_seen_asc", "last_seen_desc"]).optional(),
  /** A Cynet that ignores Offset: every page starts at the first alert. */
  ignoreOffset: z.boolean().optional(),
  /** How far Cynet's clock (its SyncTimeUtc) runs ahead of the real one. */
  syncTimeAheadSeconds: z.number().int().min(0).max(MAX_CLOCK_AHEAD_SECONDS).optional(),
  /** Alerts per page whatever Limit asks: a Cynet that ignores Limit (null: as asked). */
  pageSize: z.number().int().min(1).max(MAX_PAGE_SIZE).nullable().optional(),
  /** A Cynet without `alerts/bulkByDateChanged`: the endpoint answers 404, as a tenant lacking it would. */
  changedAlertsUnavailable: z.boolean().optional(),
  /**
   * Analysts at work: every this many seconds one file alert's Status changes (Ignored, re-opened
   * or Closed, drawn from the seed), made when Cynet is next asked (its DateChanged then, so a
   * reader's cursor never passes it). Null: only the control API changes statuses.
   */
  decisionEverySeconds: z.number().int().min(1).max(MAX_DECISION_INTERVAL_SECONDS).nullable().optional(),
  /** An on-premise Cynet: host isolation answers 404 (cynet-api.md, "Response actions"). */
  onPremise: z.boolean().optional(),
  /** Whether the API user has remediation rights; false: every remediation call answers 403. */
  remediationPermission: z.boolean().optional(),
  /** Hosts whose remediation items move slowly (SLOW_POLLS_PER_STEP polls a step). */
  slowRemediationHosts: z.array(z.string().min(1).max(MAX_CREDENTIAL_LENGTH)).max(MAX_USERS).optional(),
  epoch: z.iso.datetime({ offset: true }).optional(),
});

/** Options a world is (re)created with. */
export type WorldOptions = z.infer<typeof worldOptionsSchema>;
/** A world's settled configuration. */
export type WorldConfig = Required<Omit<WorldOptions, "epoch">> & { epochMs: number };
/** An endpoint of the Cynet API, for counters and faults. */
export type CynetEndpoint = "token" | "alerts" | "changes" | "file" | "remediation" | "remediation_status";

/** Statuses an analyst may set on an alert (cynet-api.md): 0 Open, 1 Pending, 2 Ignored, 3 Closed. */
export const alertStatusSchema = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]);
/** An alert status an analyst may set. */
export type AlertStatus = z.infer<typeof alertStatusSchema>;

/** Alerts in a default world: a few pages at Limit=100, quick to sync. */
const DEFAULT_ALERT_COUNT = 250;
/** Client ID of a default world. */
const DEFAULT_CLIENT_ID = "123456";
/** Token lifetime of a default world: Cynet's tokens last about an hour (cynet-api.md). */
const DEFAULT_TOKEN_TTL_SECONDS = 3_600;
/** The epoch is rounded down to this, so worlds made in the same minute match. */
const EPOCH_ROUNDING_MS = 60_000;

const DEFAULT_USERS: WorldConfig["users"] = [
  { username: "operator@acme.example", password: "Operator-Pass-1", apiPermission: true },
  { username: "viewer@acme.example", password: "Viewer-Pass-1", apiPermission: false },
];

/** FNV-1a: a deterministic default seed from the label. */
function labelSeed(label: string): number {
  let h = 0x811c9dc5;
  for (const ch of label) h = Math.imul(h ^ (ch.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  return h;
}

function settle(label: string, options: WorldOptions, nowMs: number): WorldConfig {
  return {
    seed: options.seed ?? labelSeed(label),
    alertCount: options.alertCount ?? DEFAULT_ALERT_COUNT,
    clientId: options.clientId ?? DEFAULT_CLIENT_ID,
    users: options.users ?? DEFAULT_USERS,
    tokenTtlSeconds: options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS,
    ordering: options.ordering ?? "id_asc",
    pageSize: options.pageSize ?? null,
    ignoreOffset: options.ignoreOffset ?? false,
    syncTimeAheadSeconds: options.syncTimeAheadSeconds ?? 0,
    changedAlertsUnavailable: options.changedAlertsUnavailable ?? false,
    decisionEverySeconds: options.decisionEverySeconds ?? null,
    onPremise: options.onPremise ?? false,
    remediationPermission: options.remediationPermission ?? true,
    slowRemediationHosts: options.slowRemediationHosts ?? [],
    epochMs: options.epoch === undefined ? Math.floor(nowMs / EPOCH_ROUNDING_MS) * EPOCH_ROUNDING_MS : Date.parse(options.epoch),
  };
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** One simulated Cynet tenant. */
export class World {
  readonly config: WorldConfig;
  readonly alerts: SimAlert[];
  readonly files = new Map<string, SimFile>();
  /** Occurrences tests placed on endpoints, by file, each visible from its `appearsAtMs`. */
  readonly #placed = new Map<string, Array<Occurrence & { appearsAtMs: number }>>();
  readonly counters: Record<CynetEndpoint, number> = { token: 0, alerts: 0, changes: 0, file: 0, remediation: 0, remediation_status: 0 };
  /** Remediation items and the calls received (./remediation.ts). */
  readonly remediation = new RemediationBook();
  readonly faults = new FaultBook();
  readonly #tokens = new Map<string, number>();
  #lastSeenMs: number[];
  #nextId: number;
  /** The last window asked for (see #window); dropped whenever alerts are added or seen again. */
  #windowCache: { sinceMs: number; hits: number[] } | undefined;
  /**
   * The last changed-since window asked for (see #changedWindow); dropped whenever an alert is
   * added, seen again or changed. Built only when bulkByDateChanged is called, so worlds that
   * never ask for changes (the bench's million alerts) pay nothing for it.
   */
  #changedCache: { sinceMs: number; hits: number[] } | undefined;

  /** Scheduled decisions made so far (decisionEverySeconds): the n-th is due n intervals after the epoch. */
  #decisionsMade = 0;

  constructor(
    readonly label: string,
    options: WorldOptions,
    nowMs: number,
  ) {
    this.config = settle(label, options, nowMs);
    const { alerts, files } = generateAlerts(this.config.seed, this.config.alertCount, this.config.epochMs);
    this.alerts = alerts;
    this.#lastSeenMs = alerts.map((a) => Date.parse(a.LastSeenUtc));
    for (const file of files) this.files.set(file.sha256, file);
    this.#nextId = FIRST_CLIENT_DB_ID + alerts.length;
  }

  /** The user with this name (case-insensitive), if any. */
  findUser(username: string): WorldConfig["users"][number] | undefined {
    return this.config.users.find((u) => u.username.toLowerCase() === username.toLowerCase());
  }

  /** Issues a new access token valid for the world's TTL. */
  issueToken(nowMs: number): string {
    const token = randomToken();
    this.#tokens.set(token, nowMs + this.config.tokenTtlSeconds * 1000);
    return token;
  }

  /** Whether `token` was issued here and has not expired. */
  tokenValid(token: string | undefined, nowMs: number): boolean {
    const expires = token === undefined ? undefined : this.#tokens.get(token);
    return expires !== undefined && expires > nowMs;
  }

  /** Number of tokens still valid. */
  liveTokens(nowMs: number): number {
    return [...this.#tokens.values()].filter((e) => e > nowMs).length;
  }

  /** Expires every token; returns how many were live. */
  expireTokens(nowMs: number): number {
    const live = this.liveTokens(nowMs);
    this.#tokens.clear();
    return live;
  }

  /** Alerts seen at or after `sinceMs`, in the world's order, sliced by offset/limit. */
  page(sinceMs: number, offset: number, limit: number): SimAlert[] {
    const hits = this.#window(sinceMs);
    const from = this.config.ignoreOffset ? 0 : offset;
    return hits.slice(from, from + limit).map((i) => this.alerts[i] as SimAlert);
  }

  /**
   * Indexes of the alerts seen at or after `sinceMs`, in the world's order. Paging a window
   * asks the same question page after page: the answer is kept until the alerts change, so a
   * million-alert backlog costs one scan, not one per page.
   */
  #window(sinceMs: number): number[] {
    if (this.#windowCache?.sinceMs === sinceMs) return this.#windowCache.hits;
    const hits: number[] = [];
    for (let i = 0; i < this.alerts.length; i++) if ((this.#lastSeenMs[i] ?? 0) >= sinceMs) hits.push(i);
    if (this.config.ordering === "last_seen_desc") {
      hits.sort((a, b) => (this.#lastSeenMs[b] ?? 0) - (this.#lastSeenMs[a] ?? 0) || b - a);
    } else if (this.config.ordering === "last_seen_asc") {
      hits.sort((a, b) => (this.#lastSeenMs[a] ?? 0) - (this.#lastSeenMs[b] ?? 0) || a - b);
    }
    this.#windowCache = { sinceMs, hits };
    return hits;
  }

  /**
   * Alerts whose DateChanged is at or after `sinceMs`, ordered by DateChanged then ClientDbId,
   * sliced by offset/limit; a world that ignores Offset ignores it here too, as `page` does.
   */
  changedPage(sinceMs: number, offset: number, limit: number): SimAlert[] {
    const hits = this.#changedWindow(sinceMs);
    const from = this.config.ignoreOffset ? 0 : offset;
    return hits.slice(from, from + limit).map((i) => this.alerts[i] as SimAlert);
  }

  /** Indexes of the alerts changed at or after `sinceMs`, in DateChanged-then-id order; kept until the alerts change. */
  #changedWindow(sinceMs: number): number[] {
    if (this.#changedCache?.sinceMs === sinceMs) return this.#changedCache.hits;
    const changedMs = new Map<number, number>();
    for (let i = 0; i < this.alerts.length; i++) {
      const ms = dateChangedMs(this.alerts[i] as SimAlert);
      if (ms >= sinceMs) changedMs.set(i, ms);
    }
    const hits = [...changedMs.keys()];
    const idOf = (i: number) => (this.alerts[i] as SimAlert).ClientDbId;
    hits.sort((a, b) => (changedMs.get(a) ?? 0) - (changedMs.get(b) ?? 0) || idOf(a) - idOf(b));
    this.#changedCache = { sinceMs, hits };
    return hits;
  }

  /**
   * Sets the alerts' Status as an analyst would, moving their DateChanged to now (not their
   * LastSeen: a decision is not a sighting). Returns the changed alerts, or the ids it does not
   * know (and then changes none).
   */
  setStatus(ids: number[], status: AlertStatus, nowMs: number): { changed: SimAlert[] } | { missing: number[] } {
    const index = new Map(this.alerts.map((a, i) => [a.ClientDbId, i]));
    const missing = ids.filter((id) => !index.has(id));
    if (missing.length > 0) return { missing };
    const now = new Date(nowMs).toISOString();
    const changed = ids.map((id) => {
      const i = index.get(id) ?? 0;
      const alert: SimAlert = { ...(this.alerts[i] as SimAlert), Status: status, DateChanged: now };
      this.alerts[i] = alert;
      return alert;
    });
    // The bulk window holds indexes by LastSeen, which did not move; only the changed window is stale.
    this.#changedCache = undefined;
    return { changed };
  }

  /**
   * Makes the scheduled decisions due by `nowMs` (decisionEverySeconds), at most
   * MAX_DECISIONS_PER_CALL: each picks a file alert and a status from the seed and the decision's
   * number, so worlds of one seed asked at the same times decide alike.
   */
  decideDue(nowMs: number): void {
    const every = this.config.decisionEverySeconds;
    if (every === null || this.alerts.length === 0) return;
    for (let made = 0; made < MAX_DECISIONS_PER_CALL; made++) {
      const dueMs = this.config.epochMs + (this.#decisionsMade + 1) * every * 1000;
      if (dueMs > nowMs) return;
      const draw = new Draw((this.config.seed ^ (this.#decisionsMade * 0x9e3779b1)) >>> 0);
      this.#decisionsMade += 1;
      const fileAlerts = this.alerts.filter((a) => alertFileHash(a) !== null);
      if (fileAlerts.length === 0) return;
      const alert = draw.pick(fileAlerts);
      // Made now, not at dueMs: a DateChanged in the past could sit behind a reader's change cursor.
      this.setStatus([alert.ClientDbId], draw.pick(DECIDED_STATUSES), nowMs);
    }
  }

  /** Appends alerts built from `inputs`, with new ids and LastSeenUtc = now. */
  append(inputs: AlertInput[], nowMs: number): SimAlert[] {
    const now = new Date(nowMs).toISOString();
    const added = inputs.map((input) => ({ ...input, ClientDbId: this.#nextId++, LastSeenUtc: now }));
    for (const alert of added) this.#learnFile(alert, now);
    this.alerts.push(...added);
    this.#lastSeenMs.push(...added.map(() => nowMs));
    this.#windowCache = undefined;
    this.#changedCache = undefined;
    return added;
  }

  /** Appends `count` generated alerts (new files, new ids), all seen now. */
  appendGenerated(count: number, nowMs: number): SimAlert[] {
    // Mixing in the next id (golden-ratio multiplier) gives every append its own file pool.
    const seed = (this.config.seed + Math.imul(this.#nextId, 0x9e37_79b1)) >>> 0;
    const { alerts, files } = generateBatch(seed, this.#nextId, count, nowMs, nowMs);
    for (const file of files) this.files.set(file.sha256, file);
    this.#nextId += count;
    this.alerts.push(...alerts);
    this.#lastSeenMs.push(...alerts.map(() => nowMs));
    this.#windowCache = undefined;
    this.#changedCache = undefined;
    return alerts;
  }

  /**
   * Places `file` on an endpoint (a file Cynet never saw becomes known, named as the occurrence
   * names it), visible in `full/file` from `appearsAtMs`. One on the same host and path is replaced.
   */
  placeOccurrence(sha256: string, occurrence: Occurrence, appearsAtMs: number): void {
    if (!this.files.has(sha256)) this.files.set(sha256, fileForHash(sha256, occurrence.filename, occurrence.full_path, new Date(appearsAtMs).toISOString()));
    const others = (this.#placed.get(sha256) ?? []).filter((o) => o.hostname !== occurrence.hostname || o.full_path !== occurrence.full_path);
    this.#placed.set(sha256, [...others, { ...occurrence, appearsAtMs }]);
  }

  /** The occurrences placed on `sha256` that are visible at `nowMs`. */
  placedOccurrences(sha256: string, nowMs: number): Occurrence[] {
    return (this.#placed.get(sha256) ?? []).filter((o) => o.appearsAtMs <= nowMs).map(({ appearsAtMs: _, ...o }) => o);
  }

  /** Whether Cynet has seen `sha256` by `nowMs`: an alert named it, or an occurrence placed on it is visible. */
  knowsFile(sha256: string, nowMs: number): SimFile | undefined {
    const file = this.files.get(sha256);
    if (file === undefined) return undefined;
    const placed = this.#placed.get(sha256);
    // A file known only from occurrences still to appear is a file Cynet has not seen yet.
    if (placed !== undefined && !this.alerts.some((a) => alertFileHash(a) === sha256) && placed.every((o) => o.appearsAtMs > nowMs)) return undefined;
    return file;
  }

  /** Marks the alerts as seen again now; returns the ids it does not know (and then touches none). */
  touch(ids: number[], nowMs: number): number[] {
    const index = new Map(this.alerts.map((a, i) => [a.ClientDbId, i]));
    const missing = ids.filter((id) => !index.has(id));
    if (missing.length > 0) return missing;
    const now = new Date(nowMs).toISOString();
    for (const id of ids) {
      const i = index.get(id) ?? 0;
      const alert = this.alerts[i] as SimAlert;
      this.alerts[i] = { ...alert, LastSeenUtc: now, LastSeen: now, DateChanged: now };
      this.#lastSeenMs[i] = nowMs;
    }
    this.#windowCache = undefined;
    this.#changedCache = undefined;
    return [];
  }

  #learnFile(alert: SimAlert, now: string): void {
    const hash = alertFileHash(alert);
    if (hash === null || this.files.has(hash)) return;
    const fileName = alert.File?.CommonFileName ?? "unknown.bin";
    this.files.set(hash, fileForHash(hash, fileName, alert.Path ?? `C:\\${fileName}`, now));
  }
}

/**
 * When an alert last changed: its DateChanged, else (an appended alert that names none, or
 * names no real time) its LastSeenUtc, which is when the simulator raised or last saw it.
 */
function dateChangedMs(alert: SimAlert): number {
  const changed = alert.DateChanged == null ? Number.NaN : Date.parse(alert.DateChanged);
  return Number.isNaN(changed) ? Date.parse(alert.LastSeenUtc) : changed;
}

const worlds = new Map<string, World>();

/** The world for `label`, created with defaults on first use. */
export function getWorld(label: string, nowMs: number): World {
  const existing = worlds.get(label);
  if (existing !== undefined) return existing;
  const world = new World(label, {}, nowMs);
  worlds.set(label, world);
  return world;
}

/** (Re)creates the world for `label`: fresh alerts, no faults, zero counters, no tokens. */
export function resetWorld(label: string, options: WorldOptions, nowMs: number): World {
  const world = new World(label, options, nowMs);
  worlds.set(label, world);
  return world;
}

/** Forgets the world for `label`; returns whether it existed. */
export function deleteWorld(label: string): boolean {
  return worlds.delete(label);
}

/** Label used when the host is not `<label>.api.cynet.com` (127.0.0.1, localhost). */
export const DEFAULT_LABEL = "acme";
const TENANT_HOST = /^([a-z0-9-]+)\.api\.cynet\.com$/i;

/** The world label of a host name: `<label>.api.cynet.com`, else DEFAULT_LABEL. */
export function labelOfHost(host: string): string {
  return TENANT_HOST.exec(host)?.[1]?.toLowerCase() ?? DEFAULT_LABEL;
}

/** The world label a request addresses: from X-Forwarded-Host, else the URL's host. */
export function worldLabel(request: Request): string {
  const forwarded = request.headers.get("x-forwarded-host")?.split(",")[0]?.trim();
  return labelOfHost(forwarded ? forwarded.replace(/:\d+$/, "") : new URL(request.url).hostname);
}
