/**
 * The Cynet API calls the plugin makes (cynet-api.md): log in, read a page of alerts (seen or
 * changed since a time), look up a file (its other hashes, the endpoints it is on), ask for a remediation and follow it. Each answer is validated before it is used.
 */
import { AlertsPage, FileRecord, RemediationAnswer, RemediationStatus, TokenResponse } from "./schemas";
import { CynetError, cynetRequest, type CynetTarget } from "./transport";

/** What a logged-in call needs: where Cynet is, the access token and the numeric Client ID. */
export interface CynetSession {
  target: CynetTarget;
  accessToken: string;
  clientId: string;
}

/** Page size cynet-api.md documents for /api/alerts/bulk. */
export const ALERTS_PAGE_LIMIT = 100;

function parseOrMalformed<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CynetError("malformed", 200, `${what} did not match the expected shape`);
  return parsed.data;
}

/** POST /api/account/token: exchanges a username and password for an access token. */
export async function login(target: CynetTarget, username: string, password: string): Promise<string> {
  const body = await cynetRequest(target, "POST", "/api/account/token", {}, { user_name: username, password });
  return parseOrMalformed(TokenResponse, body, "token response").access_token;
}

/** Cynet's `LastSeen` format: UTC, second precision. */
export function formatLastSeen(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** One page of an alerts listing (`alerts/bulk` and its siblings): LastSeen, Limit, Offset in, the AlertsPage envelope out. */
async function fetchAlertsEnvelope(session: CynetSession, path: string, since: Date, limit: number, offset: number): Promise<AlertsPage> {
  const query = new URLSearchParams({ LastSeen: formatLastSeen(since), Limit: String(limit), Offset: String(offset) });
  const body = await cynetRequest(session.target, "GET", `${path}?${query}`, sessionHeaders(session));
  return parseOrMalformed(AlertsPage, body, "alerts page");
}

/** GET /api/alerts/bulk: one page of alerts seen since `lastSeen`. */
export function fetchAlertsPage(session: CynetSession, lastSeen: Date, limit: number, offset: number): Promise<AlertsPage> {
  return fetchAlertsEnvelope(session, "/api/alerts/bulk", lastSeen, limit, offset);
}

/** HTTP status of a Cynet that lacks a route. */
const NOT_FOUND = 404;

/**
 * This Cynet does not serve `alerts/bulkByDateChanged` (it answered 404): the caller says
 * "Cynet does not offer changed alerts" and carries on without them. Still a CynetError
 * (http 404), so retry classification treats it as final, not transient.
 */
export class ChangedAlertsUnavailableError extends CynetError {
  override name = "ChangedAlertsUnavailableError";
  constructor(detail: string) {
    super("http", NOT_FOUND, detail);
  }
}

/**
 * GET /api/alerts/bulkByDateChanged: one page of alerts whose DateChanged is at or after
 * `changedSince` (an analyst set Status to Ignored or Closed, or re-opened one).
 *
 * The one place our guess about this endpoint lives (cynet-api.md, "Alerts that change",
 * **our choice, inferred**): public integrations list it beside `alerts/bulk` without calling
 * it, so its parameters (`LastSeen` read as "changed since", `Limit`, `Offset`) and its answer
 * (the AlertsPage envelope) are assumed to be those of `alerts/bulk`. Change it here when a
 * real tenant says otherwise. A 404 throws ChangedAlertsUnavailableError; every other failure
 * is the CynetError fetchAlertsPage would throw.
 */
export async function fetchChangedAlertsPage(session: CynetSession, changedSince: Date, limit: number, offset: number): Promise<AlertsPage> {
  try {
    return await fetchAlertsEnvelope(session, "/api/alerts/bulkByDateChanged", changedSince, limit, offset);
  } catch (err) {
    if (err instanceof CynetError && err.failure === "http" && err.status === NOT_FOUND) throw new ChangedAlertsUnavailableError(err.detail);
    throw err;
  }
}

/** GET /api/full/file: the file record (MD5, SHA-1, names) for a SHA-256. */
export async function fetchFile(session: CynetSession, sha256: string): Promise<FileRecord> {
  const body = await cynetRequest(session.target, "GET", `/api/full/file?${new URLSearchParams({ sha256 })}`, sessionHeaders(session));
  return parseOrMalformed(FileRecord, body, "file record");
}

function sessionHeaders(session: CynetSession): Record<string, string> {
  return { access_token: session.accessToken, client_id: session.clientId };
}

/**
 * One remediation request (cynet-api.md, "Response actions"): a file action posts
 * `{"sha256", "host"}` as JSON, a host action posts `host=` as form data. Always one named host:
 * `"host": null` would act on every endpoint with the file, so there is no way to send it.
 * Answers the remediation item ids Cynet created (a host action may create none).
 */
export async function requestRemediation(session: CynetSession, path: string, host: string, sha256: string | null): Promise<number[]> {
  if (host.trim() === "") throw new Error("a remediation request names one host");
  const body = sha256 === null ? new URLSearchParams({ host }) : { sha256, host };
  const answer = await cynetRequest(session.target, "POST", path, sessionHeaders(session), body);
  return parseOrMalformed(RemediationAnswer, answer, "remediation answer").remediation_items ?? [];
}

/** GET /api/file/remediation/{id}: where one remediation item stands, in Cynet's numbers and words. */
export async function fetchRemediationStatus(session: CynetSession, itemId: number): Promise<RemediationStatus> {
  const body = await cynetRequest(session.target, "GET", `/api/file/remediation/${encodeURIComponent(String(itemId))}`, sessionHeaders(session));
  return parseOrMalformed(RemediationStatus, body, "remediation status");
}
