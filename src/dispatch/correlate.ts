/**
 * Scan correlation (host contract §3.2). For the detections of one "match" outbox row: learn
 * the files' MD5 and SHA-1 from Cynet (once per hash, bounded, never blocking the SHA-256
 * path), search the host's scans by every hash known, and write one IR request and one note
 * per (scan, hash) as outbox rows. When the file later turns up on endpoints the note did not
 * name, a follow-up note names them (no second IR request). Idempotency keys are unique in D1,
 * so a match seen again, in any later run, adds nothing.
 */
import { logLine } from "../observability/log";
import { and, eq, inArray, isNull, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { fetchFile, type CynetSession } from "../cynet/client";
import { openSession } from "../cynet/session";
import { CynetError, cynetTarget } from "../cynet/transport";
import { CYNET_STATUS } from "../cynet/labels";
import { restoreUnwhitelistedStatement, revokeWhitelistedStatement, verdictChangeStatements } from "../decisions/apply";
import type { Env } from "../env";
import { searchScans } from "../host/client";
import { MAX_HASHES_PER_SEARCH, type HashType, type ScanMatch } from "../host/schemas";
import type { Database } from "../storage/db";
import { jsonList } from "../storage/json-list";
import { detections, fileHashes, type DetectionRow, type FileHashRow, type ScanMatchPayload } from "../storage/schema";
import { loadKeyRing } from "../storage/secrets";
import { findTenant } from "../storage/tenants";
import { eachConcurrently } from "../shared/concurrency";
import { namedBatch, rowsOf } from "../storage/batch";
import { keyDigest, outboxKeys, type ScanFileRef } from "./keys";
import { insertDecisionNotesStatement, insertEffectRowsStatements, insertMatchRowStatement, notesUnderPrefixes, type EffectRow, type OutboxRef, type OutboxRow } from "./outbox";

/** File lookups one correlation may make (fewer when an invocation runs several); hashes past it wait for a later tick (see FILE_LOOKUP_DEFER_MS). */
export const MAX_FILE_LOOKUPS_PER_CORRELATION = 100;
/**
 * File lookups one invocation may make across all the correlations it runs (one per tenant in
 * the batch): with the searches and the other rows' host calls, under Workers' 1000 subrequests.
 */
export const MAX_FILE_LOOKUPS_PER_INVOCATION = 400;

/** Each correlation's share of an invocation's file lookups when it runs `correlations` of them. */
export function lookupBudgetFor(correlations: number): number {
  return Math.max(1, Math.min(MAX_FILE_LOOKUPS_PER_CORRELATION, Math.floor(MAX_FILE_LOOKUPS_PER_INVOCATION / Math.max(1, correlations))));
}
/** How long hashes past the lookup bound wait; the sweeper then sends their match row at the cron's pace. */
export const FILE_LOOKUP_DEFER_MS = 5 * 60_000;
/** File lookups in flight at once: Workers allow six simultaneous open connections. */
const FILE_LOOKUP_CONCURRENCY = 6;
/** file_hashes rows per multi-row upsert: 8 columns, 96 parameters, under D1's bound of 100. */
const FILE_HASH_ROWS_PER_INSERT = 12;
/** Times a failed file lookup is tried again (in later rows) before the hash is left SHA-256 only. */
export const MAX_FILE_LOOKUP_ATTEMPTS = 3;
/** Notes one scan and hash get in all (the first and follow-ups); past it, a spreading file is the IR team's case already. */
export const MAX_NOTES_PER_SCAN_HASH = 10;

const MD5 = /^[0-9a-f]{32}$/;
const SHA1 = /^[0-9a-f]{40}$/;

/** The endpoint a detection was on, as notes name it. */
export function endpointOf(d: Pick<DetectionRow, "hostName" | "hostIp">): string {
  return d.hostName ?? d.hostIp ?? "unknown endpoint";
}

/** The tenant's file_hashes rows for these SHA-256s, in one read. */
export async function selectFileHashes(db: Database, tenantId: string, sha256s: string[]) {
  if (sha256s.length === 0) return [];
  return db
    .select()
    .from(fileHashes)
    .where(and(eq(fileHashes.tenantId, tenantId), inArray(fileHashes.sha256, jsonList(sha256s))));
}

/**
 * Learns MD5/SHA-1 for hashes not known yet (at most `lookupBudget` lookups); a Cynet failure
 * (even logging in) is recorded as a failed lookup and skipped, never thrown. Returns the
 * tenant's file_hashes rows for `sha256s` as they now stand, and whether Cynet could be asked
 * (false when the channel is not active).
 */
async function learnFileHashes(
  env: Env,
  db: Database,
  tenantId: string,
  sha256s: string[],
  now: Date,
  lookupBudget: number,
  /** Files whitelisted when last looked up that Cynet raised a new alert on: asked again, the list may have changed. */
  relook: ReadonlySet<string>,
): Promise<{ files: FileHashRow[]; cynetAsked: boolean; restored: Set<string>; decisionNotes: OutboxRef[] }> {
  const none = { restored: new Set<string>(), decisionNotes: [] };
  const byHash = new Map((await selectFileHashes(db, tenantId, sha256s)).map((k) => [k.sha256, k]));
  // The rows as stored after this call: what was read, overwritten by what it learned.
  const filesNow = (learned: FileHashRow[]) => {
    for (const row of learned) byHash.set(row.sha256, row);
    return [...byHash.values()];
  };
  const toLearn = sha256s.filter((h) => {
    const k = byHash.get(h);
    return !k || (k.state === "failed" && k.attempts < MAX_FILE_LOOKUP_ATTEMPTS) || (k.whitelisted && relook.has(h));
  });
  const before = new Map(byHash);
  if (toLearn.length === 0) return { files: filesNow([]), cynetAsked: true, ...none };
  const tenant = await findTenant(db, tenantId);
  if (!tenant?.orgUrl || !tenant.clientId || !tenant.username || tenant.state !== "active") return { files: filesNow([]), cynetAsked: false, ...none };
  const batch = toLearn.slice(0, lookupBudget);
  const attemptOf = (sha256: string) => (byHash.get(sha256)?.attempts ?? 0) + 1;
  let session: CynetSession;
  try {
    const ring = await loadKeyRing(env.CREDENTIALS_KEY);
    session = await openSession(db, ring, { id: tenant.id, orgUrl: tenant.orgUrl, clientId: tenant.clientId, username: tenant.username }, cynetTarget(env, tenant.orgUrl), now);
  } catch (err) {
    // Counted as failed lookups, so they are tried again on a later tick like any other failure.
    logLine("warn", "file lookups failed: no Cynet session", { tenantId, error: err });
    const failed = batch.map((sha256): FileHashRow => ({ tenantId, sha256, md5: null, sha1: null, state: "failed", whitelisted: false, attempts: attemptOf(sha256), lookedUpAt: now }));
    await upsertFileHashes(db, tenantId, failed, before, now);
    return { files: filesNow(failed), cynetAsked: true, ...none };
  }
  const learned: FileHashRow[] = [];
  const lookUp = async (sha256: string) => {
    const attempts = attemptOf(sha256);
    try {
      const file = await fetchFile(session, sha256);
      const md5 = file.md5?.trim().toLowerCase();
      const sha1 = file.sha1?.trim().toLowerCase();
      const whitelisted = file.is_whitelisted?.trim().toLowerCase() === "true";
      learned.push({ tenantId, sha256, md5: md5 && MD5.test(md5) ? md5 : null, sha1: sha1 && SHA1.test(sha1) ? sha1 : null, state: "known", whitelisted, attempts, lookedUpAt: now });
    } catch (err) {
      if (!(err instanceof CynetError)) throw err;
      // A 404 is an answer: Cynet has no record, so there is nothing more to learn.
      const state = err.failure === "http" && err.status === 404 ? "known" : "failed";
      learned.push({ tenantId, sha256, md5: null, sha1: null, state, whitelisted: false, attempts, lookedUpAt: now });
    }
  };
  await eachConcurrently(batch, FILE_LOOKUP_CONCURRENCY, lookUp);
  const { restored, decisionNotes } = await upsertFileHashes(db, tenantId, learned, before, now);
  return { files: filesNow(learned), cynetAsked: true, restored, decisionNotes };
}

/**
 * Stores lookup results, several rows a statement under D1's parameter bound. A file Cynet lists
 * as whitelisted is a later decision (decisions/apply.ts): in the same batch its live detections
 * stop counting, its verdict change is recorded and the scans it was matched in get a note; one
 * that was whitelisted and is no longer gets its detections back. A failed lookup changes no
 * whitelisting. Returns the files taken off the list and the note rows written.
 */
async function upsertFileHashes(
  db: Database,
  tenantId: string,
  rows: FileHashRow[],
  before: ReadonlyMap<string, FileHashRow>,
  now: Date,
): Promise<{ restored: Set<string>; decisionNotes: OutboxRef[] }> {
  // A failed lookup learned nothing about the list: the row keeps what it had.
  rows = rows.map((r) => (r.state === "failed" ? { ...r, whitelisted: before.get(r.sha256)?.whitelisted ?? false } : r));
  const statements: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < rows.length; i += FILE_HASH_ROWS_PER_INSERT) {
    statements.push(
      db
        .insert(fileHashes)
        .values(rows.slice(i, i + FILE_HASH_ROWS_PER_INSERT))
        .onConflictDoUpdate({
          target: [fileHashes.tenantId, fileHashes.sha256],
          set: {
            md5: sql`excluded.md5`,
            sha1: sql`excluded.sha1`,
            state: sql`excluded.state`,
            whitelisted: sql`excluded.whitelisted`,
            attempts: sql`excluded.attempts`,
            lookedUpAt: sql`excluded.looked_up_at`,
          },
        }),
    );
  }
  const whitelisted = [...new Set(rows.filter((r) => r.whitelisted).map((r) => r.sha256))];
  const restored = [...new Set(rows.filter((r) => r.state === "known" && !r.whitelisted && before.get(r.sha256)?.whitelisted).map((r) => r.sha256))];
  const changed = [...whitelisted, ...restored];
  const decided = changed.length ? verdictChangeStatements(db, tenantId, changed, now) : { verdicts: [], notes: [] };
  const done = await namedBatch(db, {
    upserts: statements,
    revoked: whitelisted.length ? [revokeWhitelistedStatement(db, tenantId, whitelisted, now)] : [],
    restored: restored.length ? [restoreUnwhitelistedStatement(db, tenantId, restored)] : [],
    ...decided,
  });
  return { restored: new Set(restored), decisionNotes: done.notes.flatMap((r) => rowsOf<OutboxRef>(r)) };
}

/** Splits hashes into scans/search bodies of at most MAX_HASHES_PER_SEARCH in all. */
function searchChunks(hashes: Array<{ type: HashType; hash: string }>) {
  const chunks: Array<Record<HashType, string[]>> = [];
  for (let i = 0; i < hashes.length; i += MAX_HASHES_PER_SEARCH) {
    const chunk: Record<HashType, string[]> = { sha256: [], md5: [], sha1: [] };
    for (const h of hashes.slice(i, i + MAX_HASHES_PER_SEARCH)) chunk[h.type].push(h.hash);
    chunks.push(chunk);
  }
  return chunks;
}

/** What matching uses of the group's detections: the rows of a whole batch of pages come back in one read. */
type MatchedDetection = Pick<DetectionRow, "alertId" | "sha256" | "hostName" | "hostIp" | "runId" | "cynetStatus" | "revokedAt" | "revokedReason">;
/** A scan that included one of the group's files, with the SHA-256 it stands for. */
type FileScanMatch = ScanMatch & { sha256: string };

/**
 * The group's detections that still count, and those revoked only because their file was
 * whitelisted (a new alert on such a file has it looked up again): the columns matching uses.
 */
async function detectionsToMatch(db: Database, tenantId: string, alertIds: number[]): Promise<MatchedDetection[]> {
  return db
    .select({
      alertId: detections.alertId,
      sha256: detections.sha256,
      hostName: detections.hostName,
      hostIp: detections.hostIp,
      runId: detections.runId,
      cynetStatus: detections.cynetStatus,
      revokedAt: detections.revokedAt,
      revokedReason: detections.revokedReason,
    })
    .from(detections)
    .where(and(eq(detections.tenantId, tenantId), inArray(detections.alertId, jsonList(alertIds)), or(isNull(detections.revokedAt), eq(detections.revokedReason, "whitelisted"))));
}

/** Every hash the host may have indexed a file by (its SHA-256, and the MD5/SHA-1 learned), back to its SHA-256. */
function hashesToAsk(sha256s: string[], files: FileHashRow[]): Map<string, string> {
  const toSha256 = new Map<string, string>(sha256s.map((h) => [`sha256:${h}`, h]));
  for (const f of files) {
    if (f.md5) toSha256.set(`md5:${f.md5}`, f.sha256);
    if (f.sha1) toSha256.set(`sha1:${f.sha1}`, f.sha256);
  }
  return toSha256;
}

/**
 * Asks the host's scans/search for every hash, one call per MAX_HASHES_PER_SEARCH. Each call's
 * key names this correlation and the chunk: a retry of the same correlation gets its own
 * answers back, and a later correlation of the same hashes (after the host scanned another
 * email with the file) asks afresh.
 */
async function searchHostScans(env: Env, tenantId: string, correlation: string, toSha256: Map<string, string>): Promise<FileScanMatch[]> {
  const asked = [...toSha256.keys()].map((k) => {
    const [type, hash] = k.split(":") as [HashType, string];
    return { type, hash };
  });
  const matches: FileScanMatch[] = [];
  for (const [chunk, body] of searchChunks(asked).entries()) {
    const answer = await searchScans(env, tenantId, body, outboxKeys.search(tenantId, correlation, chunk, await keyDigest(JSON.stringify(body))));
    for (const m of answer.matches) {
      const sha256 = toSha256.get(`${m.hashType}:${m.hash.toLowerCase()}`);
      if (sha256) matches.push({ ...m, sha256 });
    }
  }
  return matches;
}

/**
 * Match rows for later: hashes past this correlation's lookup bound, and hashes whose lookup
 * failed (asked again at most MAX_FILE_LOOKUP_ATTEMPTS times). The sweeper sends them after
 * FILE_LOOKUP_DEFER_MS, so a big backfill's MD5/SHA-1 enrichment goes on at the cron's pace
 * without holding up events or SHA-256 matches.
 */
function followUpStatements(db: Database, tenantId: string, correlation: string, found: MatchedDetection[], sha256s: string[], files: FileHashRow[], now: Date) {
  const fileBySha = new Map(files.map((f) => [f.sha256, f]));
  const unlooked = sha256s.filter((h) => !fileBySha.has(h));
  const failed = sha256s.filter((h) => {
    const f = fileBySha.get(h);
    return f?.state === "failed" && f.attempts < MAX_FILE_LOOKUP_ATTEMPTS;
  });
  const followUps = [
    { hashes: unlooked, key: outboxKeys.matchNext(tenantId, correlation) },
    { hashes: failed, key: outboxKeys.matchRetry(tenantId, correlation, Math.max(0, ...failed.map((h) => fileBySha.get(h)!.attempts))) },
  ];
  const dueAt = new Date(now.getTime() + FILE_LOOKUP_DEFER_MS);
  return followUps
    .filter((f) => f.hashes.length > 0)
    .map((f) => {
      const hashes = new Set(f.hashes);
      return insertMatchRowStatement(db, tenantId, found.filter((d) => hashes.has(d.sha256)).map((d) => d.alertId), f.key, dueAt, now);
    });
}

/**
 * The IR request and note rows of the matches: one IR request per (scan, hash), ever; one note
 * for the endpoints known when it matched, and from later syncs one follow-up per batch naming
 * endpoints not named yet, up to MAX_NOTES_PER_SCAN_HASH in all. The rest of the run that
 * matched (a backfill's later pages) adds none, so a backfill leaves one note per scan.
 */
async function effectRows(db: Database, tenantId: string, matches: FileScanMatch[], found: MatchedDetection[]): Promise<EffectRow[]> {
  const unique = new Map<string, FileScanMatch & { scan: ScanFileRef }>();
  for (const m of matches) {
    const id = `${m.scanId}\n${m.sha256}`;
    if (!unique.has(id)) unique.set(id, { ...m, scan: { tenantId, scanDigest: await keyDigest(m.scanId), sha256: m.sha256 } });
  }
  const earlierNotes = await notesUnderPrefixes(db, tenantId, [...unique.values()].map((m) => outboxKeys.notePrefix(m.scan)));
  const rows: EffectRow[] = [];
  for (const m of unique.values()) {
    const base: ScanMatchPayload = { scanId: m.scanId, sha256: m.sha256, hashType: m.hashType, matchedHash: m.hash.toLowerCase(), fileName: m.fileName ?? null, scannedAt: m.scannedAt ?? null };
    const onFile = found.filter((d) => d.sha256 === m.sha256);
    rows.push({ tenantId, kind: "ir_request", alertIds: onFile.map((d) => d.alertId), payload: base, idempotencyKey: outboxKeys.irRequest(m.scan) });
    const prefix = outboxKeys.notePrefix(m.scan);
    const earlier = earlierNotes.filter((n) => n.key.startsWith(prefix));
    const named = new Set(earlier.flatMap((n) => n.payload?.endpoints ?? []));
    const matchedInRun = Math.min(...earlier.map((n) => n.payload?.runId ?? Number.MAX_SAFE_INTEGER));
    const fresh = onFile.filter((d) => !named.has(endpointOf(d)) && (earlier.length === 0 || d.runId > matchedInRun));
    if (fresh.length === 0 || earlier.length >= MAX_NOTES_PER_SCAN_HASH) continue;
    const endpoints = [...new Set(fresh.map(endpointOf))].sort();
    rows.push({
      tenantId,
      kind: "note",
      alertIds: fresh.map((d) => d.alertId),
      payload: { ...base, endpoints, followUp: earlier.length > 0, runId: Math.max(...fresh.map((d) => d.runId)) },
      idempotencyKey: earlier.length === 0 ? outboxKeys.firstNote(m.scan) : outboxKeys.followUpNote(m.scan, await keyDigest(endpoints.join("\n"))),
    });
  }
  return rows;
}

/**
 * Runs correlation for "match" rows of one tenant together (the rows of many stored batches
 * arrive in one queue batch), so hashes are looked up and searched once and search calls go
 * out full: the group's detections, their MD5/SHA-1 from Cynet, the host's scans by every
 * hash, then in one D1 batch the follow-up match rows and the IR request and note rows (a few
 * statements however many scans match). Returns the IR request and note rows it created.
 */
export async function correlate(env: Env, db: Database, group: OutboxRow[], now: Date, lookupBudget = MAX_FILE_LOOKUPS_PER_CORRELATION): Promise<OutboxRef[]> {
  const tenantId = group[0]?.tenantId;
  const alertIds = [...new Set(group.flatMap((r) => r.alertIds))];
  if (tenantId === undefined || alertIds.length === 0) return [];
  const found = await detectionsToMatch(db, tenantId, alertIds);
  if (found.length === 0) return [];
  // The correlation is named by the rows it serves: its keys are its own.
  const correlation = await keyDigest(group.map((r) => r.id).sort((a, b) => a - b).join(","));
  const sha256s = [...new Set(found.map((d) => d.sha256))];
  const relook = new Set(found.filter((d) => d.revokedReason === "whitelisted").map((d) => d.sha256));
  const { files, cynetAsked, restored, decisionNotes } = await learnFileHashes(env, db, tenantId, sha256s, now, lookupBudget, relook);
  // A file Cynet whitelists is not matched: its detections stopped counting in the lookup's
  // batch (or when stored). One taken off the list counts again, but for alerts still Ignored.
  const listed = new Set(files.filter((f) => f.whitelisted).map((f) => f.sha256));
  const live = found.filter(
    (d) => !listed.has(d.sha256) && (d.revokedAt === null || (restored.has(d.sha256) && d.revokedReason === "whitelisted" && d.cynetStatus !== CYNET_STATUS.Ignored)),
  );
  const liveHashes = [...new Set(live.map((d) => d.sha256))];
  // A detection stored live while its file's whitelisting was being recorded: it stops counting now.
  const raced = [...new Set(found.filter((d) => d.revokedAt === null && listed.has(d.sha256)).map((d) => d.sha256))];
  const racedDecision = raced.length ? verdictChangeStatements(db, tenantId, raced, now) : { verdicts: [], notes: [] };
  const matches = liveHashes.length ? await searchHostScans(env, tenantId, correlation, hashesToAsk(liveHashes, files)) : [];
  const done = await namedBatch(db, {
    // A deactivated channel has no Cynet to ask: no follow-ups, or they would chain forever.
    followUps: cynetAsked ? followUpStatements(db, tenantId, correlation, live, liveHashes, files, now) : [],
    effects: insertEffectRowsStatements(db, await effectRows(db, tenantId, matches, live), now),
    // A file revoked while this correlation ran (its scans were searched meanwhile): the scans
    // just matched get that decision's note too, in the batch that wrote their IR requests.
    lateDecisions: liveHashes.length ? [insertDecisionNotesStatement(db, tenantId, liveHashes, now)] : [],
    racedRevoked: raced.length ? [revokeWhitelistedStatement(db, tenantId, raced, now)] : [],
    racedVerdicts: racedDecision.verdicts,
    racedNotes: racedDecision.notes,
  });
  return [...decisionNotes, ...[...done.effects, ...done.lateDecisions, ...done.racedNotes].flatMap((r) => rowsOf<OutboxRef>(r))];
}
