/**
 * One check of the host's findings at Cynet (docs/operations.md, Findings): for each convicted
 * file due, `GET /api/full/file` lists the endpoints Cynet has it on; the endpoints not recorded
 * yet are stored with one attachment_events row (one event each), and each finding's scan gets a
 * note naming the endpoints its earlier notes did not, all in the file's one D1 batch with the
 * record of the check. A Cynet that is busy or down leaves the check due, on a backoff.
 */
import type { Env } from "../env";
import { fetchFile, type CynetSession } from "../cynet/client";
import { isTransientCynetFailure, withCynetRetries } from "../cynet/retry";
import { FileOccurrence, type FileRecord } from "../cynet/schemas";
import { loginWithStoredPassword, openSession, type SessionTenant } from "../cynet/session";
import { CynetError, cynetTarget } from "../cynet/transport";
import { keyDigest, outboxKeys, type ScanFileRef } from "../dispatch/keys";
import { insertAttachmentEventsRowStatement, insertEffectRowsStatements, type EffectRow, type OutboxRef } from "../dispatch/outbox";
import { MAX_EVENTS_PER_BATCH } from "../host/schemas";
import { logLine } from "../observability/log";
import type { Clock } from "../shared/clock";
import { eachConcurrently } from "../shared/concurrency";
import { namedBatch, rowsOf } from "../storage/batch";
import type { Database } from "../storage/db";
import type { FindingRow } from "../storage/schema";
import { loadKeyRing, SecretsError } from "../storage/secrets";
import { findTenant } from "../storage/tenants";
import { MAX_CHECK_FAILURES, nextCheckAt, retryCheckAt } from "./schedule";
import { findingsDue, insertEndpointsStatements, knownEndpoints, recordCheckStatement, type CheckRecord, type NewFindingEndpoint } from "./store";

/**
 * Files (distinct SHA-256s) one invocation looks up: at three tries each and a re-login, about 150
 * Cynet calls and, at one D1 batch a file, a few hundred D1 queries, far under Workers' 1000 of each.
 */
export const MAX_FILE_CHECKS_PER_INVOCATION = 50;
/** File lookups in flight at once: Workers allow six open connections per invocation. */
const FILE_CHECK_CONCURRENCY = 6;
/**
 * New endpoints one check records for a file: five events/batch calls. A file on more endpoints
 * than that has the rest recorded by its next checks (each asks Cynet afresh).
 */
export const MAX_NEW_ENDPOINTS_PER_CHECK = 500;
/** Longest host name kept: DNS names are at most 253 characters; a longer one is not an endpoint name. */
const MAX_HOSTNAME_LENGTH = 255;
/** Longest path, user or time kept from an occurrence: Windows' long paths are 32,767, a note names far less. */
const MAX_OCCURRENCE_FIELD_LENGTH = 1024;
/** Re-logins one invocation makes after Cynet answered 401 (cynet-api.md: once before giving up). */
const MAX_RELOGINS = 1;

/** What Cynet answered for one file. */
type Lookup =
  | { outcome: "answered"; record: FileRecord | null }
  | { outcome: "refused"; message: string }
  | { outcome: "failed"; message: string; retryAfterSeconds?: number };

/** An endpoint as a check found it, before it is stored. */
type Seen = Omit<NewFindingEndpoint, "tenantId" | "sha256" | "foundAt" | "foundBy">;

const clip = (value: string | undefined) => {
  const trimmed = value?.trim();
  return trimmed ? trimmed.slice(0, MAX_OCCURRENCE_FIELD_LENGTH) : null;
};

/** The endpoints a file record lists, one per host name: where it ran as a process when it did anywhere on that host. */
export function endpointsSeen(record: FileRecord | null): Seen[] {
  const byHost = new Map<string, Seen>();
  for (const raw of record?.occurrences ?? []) {
    const parsed = FileOccurrence.safeParse(raw);
    if (!parsed.success) continue;
    const o = parsed.data;
    const hostname = o.hostname?.trim();
    if (!hostname || hostname.length > MAX_HOSTNAME_LENGTH) continue;
    const ranAsProcess = o.file_type?.trim().toUpperCase() === "PROCESS";
    const known = byHost.get(hostname);
    if (known && (known.ranAsProcess || !ranAsProcess)) continue;
    byHost.set(hostname, {
      hostname,
      fullPath: clip(o.full_path),
      fileName: clip(o.filename),
      fileType: clip(o.file_type),
      ranAsProcess,
      ownerUser: clip(o.owner_user),
      runningUser: clip(o.running_user),
      creationTime: clip(o.creation_time),
      lastRunTime: clip(o.last_run_time),
    });
  }
  return [...byHost.values()];
}

/** The words of a lookup that failed, for the finding's last error: what happened and what comes next. */
function failureOf(err: unknown): Lookup {
  if (err instanceof SecretsError) return { outcome: "failed", message: "The channel could not read its stored Cynet credentials; connect the channel again." };
  if (!(err instanceof CynetError)) throw err;
  if (err.failure === "http" && err.status === 403) {
    return { outcome: "refused", message: "Cynet refused to show this file's details (HTTP 403): the Cynet user needs permission to read file details. The next scheduled check asks again." };
  }
  if (err.failure === "http" && err.status === 401) return { outcome: "failed", message: "Cynet refused the channel's login (HTTP 401); check the Cynet user and password. The check is tried again later." };
  const what = err.failure === "http" ? `answered HTTP ${err.status}` : err.failure === "malformed" ? "answered something that is not a file record" : `could not be reached (${err.failure})`;
  return { outcome: "failed", message: `Cynet ${what} when asked for this file; the check is tried again later.`, ...(isTransientCynetFailure(err) && err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) };
}

/** File lookups for one tenant in one invocation: one session, renewed once after a 401. */
class FileLookups {
  #session: Promise<CynetSession> | undefined;
  #relogins = 0;

  constructor(
    private readonly env: Env,
    private readonly db: Database,
    private readonly tenant: SessionTenant,
    private readonly clock: Clock,
  ) {}

  async #open(): Promise<CynetSession> {
    const ring = await loadKeyRing(this.env.CREDENTIALS_KEY);
    return openSession(this.db, ring, this.tenant, cynetTarget(this.env, this.tenant.orgUrl), this.clock.now());
  }

  async #relogin(): Promise<CynetSession> {
    const ring = await loadKeyRing(this.env.CREDENTIALS_KEY);
    return loginWithStoredPassword(this.db, ring, this.tenant, cynetTarget(this.env, this.tenant.orgUrl), this.clock.now());
  }

  async #fetch(sha256: string): Promise<FileRecord> {
    // A login that failed stays failed for this invocation: every file reports it, and Cynet's
    // token endpoint is asked once, not once a file; the cron's next try logs in afresh.
    const used = (this.#session ??= this.#open());
    try {
      return await fetchFile(await used, sha256);
    } catch (err) {
      if (!(err instanceof CynetError && err.failure === "http" && err.status === 401)) throw err;
      // Another lookup may have logged in again meanwhile: then its session is the one to use.
      if (this.#session === used) {
        if (this.#relogins >= MAX_RELOGINS) throw err;
        this.#relogins += 1;
        this.#session = this.#relogin();
      }
      return fetchFile(await this.#session, sha256);
    }
  }

  /** Cynet's answer for one file: its record, none (404: Cynet never saw it), or why there is none. */
  async lookUp(sha256: string): Promise<Lookup> {
    try {
      return { outcome: "answered", record: await withCynetRetries(() => this.#fetch(sha256), this.clock) };
    } catch (err) {
      if (err instanceof CynetError && err.failure === "http" && err.status === 404) return { outcome: "answered", record: null };
      return failureOf(err);
    }
  }
}

/** The record of a check that could not ask Cynet: tried again on the backoff, or counted done past MAX_CHECK_FAILURES. */
function failedCheck(f: FindingRow, message: string, now: Date, retryAfterSeconds?: number): CheckRecord {
  const failures = f.failures + 1;
  if (failures >= MAX_CHECK_FAILURES) return { checksDone: f.checksDone + 1, nextCheckAt: nextCheckAt(f.submittedAt, f.checksDone + 1), failures: 0, lastError: message };
  return { checksDone: f.checksDone, nextCheckAt: retryCheckAt(now, failures, retryAfterSeconds), failures, lastError: message };
}

/** The D1 batch of one file's check that Cynet answered: new endpoints, their events row, the scans' notes, the findings' records. */
async function answeredCheck(db: Database, tenantId: string, sha256: string, group: FindingRow[], seen: Seen[], known: Set<string>, now: Date, refusal: string | null) {
  const fresh = seen.filter((e) => !known.has(e.hostname)).slice(0, MAX_NEW_ENDPOINTS_PER_CHECK);
  // The check is named by the findings it serves and the check each was at: a retried message
  // names the same check, and its rows are already there.
  const check = await keyDigest(group.map((f) => `${f.id}:${f.checksDone}`).sort().join(","));
  const endpoints: NewFindingEndpoint[] = [];
  const eventRows = [];
  for (let part = 0; part * MAX_EVENTS_PER_BATCH < fresh.length; part++) {
    const foundBy = `${check}:${part}`;
    for (const e of fresh.slice(part * MAX_EVENTS_PER_BATCH, (part + 1) * MAX_EVENTS_PER_BATCH)) endpoints.push({ ...e, tenantId, sha256, foundAt: now, foundBy });
    eventRows.push(insertAttachmentEventsRowStatement(db, tenantId, sha256, foundBy, outboxKeys.attachmentEventsRow(tenantId, sha256, check, part), now));
  }
  const onRecord = [...known, ...fresh.map((e) => e.hostname)];
  const notes: EffectRow[] = [];
  const records = [];
  for (const f of group) {
    const named = new Set(f.notedEndpoints);
    const toName = onRecord.filter((h) => !named.has(h)).sort();
    if (toName.length > 0) {
      const scan: ScanFileRef = { tenantId, scanDigest: await keyDigest(f.scanId), sha256 };
      notes.push({
        tenantId,
        kind: "attachment_note",
        alertIds: [],
        payload: { scanId: f.scanId, sha256, hashType: "sha256", matchedHash: sha256, fileName: f.fileName, scannedAt: f.foundAt.toISOString(), endpoints: toName, followUp: named.size > 0 },
        idempotencyKey: named.size === 0 ? outboxKeys.attachmentFirstNote(scan) : outboxKeys.attachmentFollowUpNote(scan, await keyDigest(toName.join("\n"))),
      });
    }
    const record: CheckRecord = { checksDone: f.checksDone + 1, nextCheckAt: nextCheckAt(f.submittedAt, f.checksDone + 1), failures: 0, lastError: refusal, notedEndpoints: [...named, ...toName] };
    records.push(recordCheckStatement(db, f, record, now));
  }
  const done = await namedBatch(db, {
    endpoints: insertEndpointsStatements(db, endpoints),
    events: eventRows,
    notes: insertEffectRowsStatements(db, notes, now),
    findings: records,
  });
  return [...done.events, ...done.notes].flatMap((r) => rowsOf<OutboxRef>(r));
}

/** What one call of checkFindings did. */
export interface CheckResult {
  /** Outbox rows it wrote (to enqueue for delivery). */
  created: OutboxRef[];
  /** Files it looked up. */
  filesChecked: number;
  /** Due findings it left for lack of budget. */
  leftOver: number[];
}

/**
 * Checks the due findings among `findingIds` of one tenant, at most `budget` distinct files;
 * the rest are returned in `leftOver`. Findings not due (a check recorded already) are skipped;
 * a tenant not active is left for the cron to send again once it is.
 */
export async function checkFindings(env: Env, db: Database, tenantId: string, findingIds: readonly number[], clock: Clock, budget = MAX_FILE_CHECKS_PER_INVOCATION): Promise<CheckResult> {
  const now = clock.now();
  const due = await findingsDue(db, tenantId, findingIds, now);
  if (due.length === 0) return { created: [], filesChecked: 0, leftOver: [] };
  const tenant = await findTenant(db, tenantId);
  if (!tenant?.enabled || tenant.state !== "active" || !tenant.orgUrl || !tenant.clientId || !tenant.username) {
    logLine("info", "finding checks skipped: the channel is not active", { tenantId, findings: due.length });
    return { created: [], filesChecked: 0, leftOver: [] };
  }
  const byFile = new Map<string, FindingRow[]>();
  for (const f of due) byFile.set(f.sha256, [...(byFile.get(f.sha256) ?? []), f]);
  const files = [...byFile.keys()];
  const checked = files.slice(0, Math.max(0, budget));
  const leftOver = files.slice(checked.length).flatMap((h) => byFile.get(h)!.map((f) => f.id));
  const lookups = new FileLookups(env, db, { id: tenant.id, orgUrl: tenant.orgUrl, clientId: tenant.clientId, username: tenant.username }, clock);
  const known = await knownEndpoints(db, tenantId, checked);
  const created: OutboxRef[] = [];
  await eachConcurrently(checked, FILE_CHECK_CONCURRENCY, async (sha256) => {
    const group = byFile.get(sha256)!;
    const answer = await lookups.lookUp(sha256);
    const at = clock.now();
    if (answer.outcome === "failed") {
      logLine("warn", "finding check failed; tried again later", { tenantId, sha256, findings: group.length, error: answer.message });
      await namedBatch(db, { findings: group.map((f) => recordCheckStatement(db, f, failedCheck(f, answer.message, at, answer.retryAfterSeconds), at)) });
      return;
    }
    const seen = answer.outcome === "answered" ? endpointsSeen(answer.record) : [];
    created.push(...(await answeredCheck(db, tenantId, sha256, group, seen, known.get(sha256) ?? new Set(), at, answer.outcome === "refused" ? answer.message : null)));
  });
  return { created, filesChecked: checked.length, leftOver };
}
