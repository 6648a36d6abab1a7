/** Drives the stand-ins from tests: a Cynet world per test, and the dev host's records. */
import type { AlertStatus } from "../../dev/cynet-sim/world";

/** Users every simulated Cynet world has unless a test says otherwise. */
export const OPERATOR = { username: "operator@acme.example", password: "Operator-Pass-1" } as const;
export const VIEWER = { username: "viewer@acme.example", password: "Viewer-Pass-1" } as const;
export const CLIENT_ID = "123456";

/** A fault rule as the stand-ins take it. */
export interface FaultRule {
  endpoint: string;
  status?: number;
  retryAfterSeconds?: number;
  delayMs?: number;
  malformed?: boolean;
  redirectTo?: string;
  times?: number;
  afterCalls?: number;
}

async function send(url: string, method: string, body?: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} → ${response.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** How a test world is made (the simulator's PUT /__sim/worlds/:label body). */
export interface WorldSetup {
  seed?: number;
  alertCount?: number;
  clientId?: string;
  tokenTtlSeconds?: number;
  ordering?: "id_asc" | "last_seen_asc" | "last_seen_desc";
  pageSize?: number;
  ignoreOffset?: boolean;
  syncTimeAheadSeconds?: number;
  /** A Cynet without alerts/bulkByDateChanged: that endpoint answers 404. */
  changedAlertsUnavailable?: boolean;
  /** Where the generated alerts' 20 days of history end (ISO); default: this minute. */
  epoch?: string;
  /** An on-premise Cynet: host isolation answers 404. */
  onPremise?: boolean;
  /** false: the API user lacks remediation rights, every remediation call answers 403. */
  remediationPermission?: boolean;
  /** Hosts whose remediation items move slowly. */
  slowRemediationHosts?: string[];
}

/** A remediation call the simulated Cynet received, with the HTTP status it answered and the items it made. */
export interface RemediationCall {
  at: string;
  action: string;
  host: string | null;
  sha256: string | null;
  answered: number;
  items: number[];
}

/** A file on an endpoint, as a test places it (the simulator's POST /__sim/worlds/:label/files/:sha256/occurrences body). */
export interface OccurrenceSetup {
  hostname: string;
  full_path: string;
  filename?: string;
  /** "PROCESS" when the file ran there; the simulator's default is "FILE". */
  file_type?: string;
  creation_time?: string | null;
  last_run_time?: string | null;
  owner_user?: string | null;
  running_user?: string | null;
  appearsAt?: string;
}

/** An alert status an analyst sets (cynet-api.md): 0 Open, 1 Pending, 2 Ignored, 3 Closed; the simulator's own type. */
export type { AlertStatus };

/** A simulated Cynet tenant reachable at https://<label>.api.cynet.com. */
export class CynetWorld {
  readonly label: string;
  constructor(label?: string) {
    this.label = label ?? `w${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  }
  get orgUrl(): string {
    return `https://${this.label}.api.cynet.com`;
  }
  private control(path = ""): string {
    return `https://${this.label}.api.cynet.com/__sim/worlds/${this.label}${path}`;
  }
  /** (Re)creates the world. */
  async setup(config: WorldSetup = {}) {
    await send(this.control(), "PUT", { alertCount: 0, ...config });
    return this;
  }
  async state(): Promise<{ counters: Record<string, number>; [k: string]: unknown }> {
    return (await send(this.control(), "GET")) as { counters: Record<string, number> };
  }
  /** Marks alerts as seen again now (they move in a last-seen order). */
  async touch(ids: number[]) {
    return send(this.control("/alerts/touch"), "POST", { clientDbIds: ids });
  }
  /** An analyst's decision: sets the alerts' Status and moves their DateChanged to now; answers the changed alerts. */
  async setStatus(ids: number[], status: AlertStatus): Promise<Record<string, unknown>[]> {
    return ((await send(this.control("/alerts/status"), "POST", { clientDbIds: ids, status })) as { alerts: Record<string, unknown>[] }).alerts;
  }
  /** An analyst whitelists files in Cynet (or takes them off): full/file then answers is_whitelisted "true" ("false"). */
  async whitelist(sha256s: string[], whitelisted = true) {
    await send(this.control("/files/whitelist"), "POST", { sha256s, whitelisted });
  }
  async alerts(): Promise<Record<string, unknown>[]> {
    const body = (await send(this.control("/alerts"), "GET")) as { alerts: Record<string, unknown>[] } | Record<string, unknown>[];
    return Array.isArray(body) ? body : body.alerts;
  }
  async addAlerts(spec: { count: number } | { alerts: Record<string, unknown>[] }) {
    return send(this.control("/alerts"), "POST", spec);
  }
  async fault(rule: FaultRule) {
    await send(this.control("/faults"), "POST", rule);
  }
  async clearFaults() {
    await send(this.control("/faults"), "DELETE");
  }
  /** The file record Cynet's /api/full/file answers for a SHA-256 (MD5, SHA-1, names). */
  async fileRecord(sha256: string): Promise<{ sha256: string; md5: string; sha1: string }> {
    const login = (await send(`${this.orgUrl}/api/account/token`, "POST", { user_name: OPERATOR.username, password: OPERATOR.password })) as { access_token: string };
    const r = await fetch(`${this.orgUrl}/api/full/file?sha256=${sha256}`, { headers: { access_token: login.access_token, client_id: CLIENT_ID } });
    if (!r.ok) throw new Error(`full/file ${r.status}`);
    return (await r.json()) as { sha256: string; md5: string; sha1: string };
  }
  /** Places a file on an endpoint: Cynet's full/file lists it there from `appearsAt` (default now); a file Cynet never saw becomes known. */
  async placeOccurrence(sha256: string, occurrence: OccurrenceSetup) {
    return send(this.control(`/files/${sha256}/occurrences`), "POST", occurrence);
  }
  /** Every remediation call this Cynet received, oldest first, and its items with how often each was polled. */
  async remediation(): Promise<{ calls: RemediationCall[]; items: Array<{ id: number; action: string; host: string; polls: number }> }> {
    return (await send(this.control("/remediation/calls"), "GET")) as { calls: RemediationCall[]; items: Array<{ id: number; action: string; host: string; polls: number }> };
  }
  async expireTokens() {
    await send(this.control("/expire-tokens"), "POST");
  }
}

/** The form a test submits to Connect for a world. */
export function connectForm(world: CynetWorld, overrides: Partial<{ orgUrl: string; clientId: string; username: string; password: string }> = {}) {
  return { orgUrl: world.orgUrl, clientId: CLIENT_ID, username: OPERATOR.username, password: OPERATOR.password, ...overrides };
}
