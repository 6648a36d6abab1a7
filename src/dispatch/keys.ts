/**
 * Every idempotency key the channel writes: the outbox's unique keys and the host calls'
 * Idempotency-Key headers (host contract §4). The formats are a contract with the host, which
 * answers a repeated key with its first result, so each key names one question asked once;
 * docs/storage-schema.md lists them and a test holds the two together. Never change a format
 * in place: rows already stored under the old one would be sent again under the new one.
 *
 * @example
 * outboxKeys.event("acme", 42); // "cynet-event:acme:42"
 */

import { sql, type SQL } from "drizzle-orm";

/** A stored page batch of one sync invocation: the run, the invocation's lease and the pages read so far. */
export interface PageBatchRef {
  tenantId: string;
  runId: number;
  leaseId: string;
  pages: number;
}

/** A (scan, file) pair as the host's scans/search answered it: the scan id digested so keys stay header-safe. */
export interface ScanFileRef {
  tenantId: string;
  scanDigest: string;
  sha256: string;
}

/** A file the host's scanner convicted, and one endpoint Cynet has it on: the endpoint's name digested so keys stay header-safe. */
export interface FileEndpointRef {
  tenantId: string;
  sha256: string;
  hostDigest: string;
}

const batchPart = (b: PageBatchRef) => `${b.tenantId}:${b.runId}:${b.leaseId}:${b.pages}`;
const scanPart = (s: ScanFileRef) => `${s.tenantId}:${s.scanDigest}:${s.sha256}`;

export const outboxKeys = {
  /** The event of one Cynet alert inside events/batch: one per alert, ever. */
  event: (tenantId: string, alertId: number) => `cynet-event:${tenantId}:${alertId}`,
  /** An events row: up to 100 of a page batch's new detections (`part` counts them). */
  eventsRow: (batch: PageBatchRef, part: number) => `cynet-events:${batchPart(batch)}:${part}`,
  /** The match row of a page batch. */
  matchRow: (batch: PageBatchRef) => `cynet-match:${batchPart(batch)}`,
  /** Hashes past one correlation's file-lookup bound, matched again later. */
  matchNext: (tenantId: string, correlation: string) => `cynet-match-next:${tenantId}:${correlation}`,
  /** Hashes whose file lookup failed, matched again after their `attempt`-th failure. */
  matchRetry: (tenantId: string, correlation: string, attempt: number) => `cynet-match-retry:${tenantId}:${correlation}:${attempt}`,
  /**
   * One scans/search call: the `chunk`-th body of one correlation (named by the match rows it
   * serves), and a digest of that body. Never the hashes alone: the host would answer a later
   * search for the same hashes, after it scanned a new email, with the first, older answer. And
   * never the correlation alone: a retried correlation that learned more MD5/SHA-1 meanwhile
   * asks other bodies, which must not get the first attempt's answers.
   */
  search: (tenantId: string, correlation: string, chunk: number, bodyDigest: string) => `cynet-search:${tenantId}:${correlation}:${chunk}:${bodyDigest}`,
  /** The IR request of a (scan, file): once, ever. */
  irRequest: (scan: ScanFileRef) => `${IR_REQUEST_KEY_PREFIX}${scanPart(scan)}`,
  /** Prefix every note of a (scan, file) shares. */
  notePrefix: (scan: ScanFileRef) => `cynet-note:${scanPart(scan)}:`,
  /** The first note on a (scan, file). */
  firstNote: (scan: ScanFileRef) => `cynet-note:${scanPart(scan)}:first`,
  /** A follow-up note naming endpoints not named before (digested). */
  followUpNote: (scan: ScanFileRef, endpointsDigest: string) => `cynet-note:${scanPart(scan)}:${endpointsDigest}`,
  /** The note a later decision on a file sends a scan it was matched in: the file's `seq`-th verdict change (verdict_changes). */
  decisionNote: (scan: ScanFileRef, seq: number) => `cynet-decision:${scanPart(scan)}:${seq}`,
  /** The "Malicious Attachment on Endpoint" event of one (file, endpoint) inside events/batch: one per pair, ever, whichever scan or check found it. */
  attachmentEvent: (ref: FileEndpointRef) => `cynet-attachment-event:${ref.tenantId}:${ref.sha256}:${ref.hostDigest}`,
  /**
   * An attachment_events row: the endpoints one check of a file found first (`check`: a digest of
   * the findings and the check number each was at), up to 100 a `part`.
   */
  attachmentEventsRow: (tenantId: string, sha256: string, check: string, part: number) => `cynet-attachment-events:${tenantId}:${sha256}:${check}:${part}`,
  /** Prefix every attachment note of a (scan, file) shares. */
  attachmentNotePrefix: (scan: ScanFileRef) => `cynet-attachment-note:${scanPart(scan)}:`,
  /** The first attachment note on a (scan, file): the endpoints the file was first found on. */
  attachmentFirstNote: (scan: ScanFileRef) => `cynet-attachment-note:${scanPart(scan)}:first`,
  /** A follow-up attachment note naming endpoints earlier ones did not (digested). */
  attachmentFollowUpNote: (scan: ScanFileRef, endpointsDigest: string) => `cynet-attachment-note:${scanPart(scan)}:${endpointsDigest}`,
  /** The note on a scan saying how a response action named for it ended: once per action (its id is random, so never reused). */
  actionNote: (tenantId: string, actionId: string) => `cynet-action-note:${tenantId}:${actionId}`,
} as const;

/** The IR request key's fixed start: a decision note's key is built from the IR request row's key in SQL. */
export const IR_REQUEST_KEY_PREFIX = "cynet-ir:";

/**
 * decisionNote's key as SQL, from the key of the IR request row of the same (scan, file) and the
 * change's seq: the statement that writes decision notes reads the scans from those rows.
 */
export function decisionNoteKeySql(irRequestKey: SQL, seq: SQL): SQL {
  return sql`'cynet-decision:' || substr(${irRequestKey}, ${IR_REQUEST_KEY_PREFIX.length + 1}) || ':' || ${seq}`;
}

/** Bytes of SHA-256 a key digest keeps: at 96 bits a collision among one tenant's scans or endpoint lists is negligible, in 24 hex characters. */
const KEY_DIGEST_BYTES = 12;

/** A short hex digest, so strings from the host or Cynet (scan ids, host names, row ids) make header-safe keys. */
export async function keyDigest(value: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)));
  return [...bytes.slice(0, KEY_DIGEST_BYTES)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
