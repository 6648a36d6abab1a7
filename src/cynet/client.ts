/**
 * The Cynet API calls the plugin makes (cynet-api.md): log in, read a page of alerts, look up
 * a file's other hashes. Each answer is validated before it is used.
 */
import { AlertsPage, FileRecord, TokenResponse } from "./schemas";
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

/** GET /api/alerts/bulk: one page of alerts seen since `lastSeen`. */
export async function fetchAlertsPage(session: CynetSession, lastSeen: Date, limit: number, offset: number): Promise<AlertsPage> {
  const query = new URLSearchParams({ LastSeen: formatLastSeen(lastSeen), Limit: String(limit), Offset: String(offset) });
  const body = await cynetRequest(session.target, "GET", `/api/alerts/bulk?${query}`, sessionHeaders(session));
  return parseOrMalformed(AlertsPage, body, "alerts page");
}

/** GET /api/full/file: the file record (MD5, SHA-1, names) for a SHA-256. */
export async function fetchFile(session: CynetSession, sha256: string): Promise<FileRecord> {
  const body = await cynetRequest(session.target, "GET", `/api/full/file?${new URLSearchParams({ sha256 })}`, sessionHeaders(session));
  return parseOrMalformed(FileRecord, body, "file record");
}

function sessionHeaders(session: CynetSession): Record<string, string> {
  return { access_token: session.accessToken, client_id: session.clientId };
}
