/** Sending the outbox rows a finding's check wrote (attachment_events, attachment_note): built from the stored rows at send time. */
import type { Env } from "../env";
import { HostError, postEventsBatch, postScanNote } from "../host/client";
import type { Database } from "../storage/db";
import { scanMatchOf, type OutboxRow } from "../dispatch/outbox";
import { attachmentEvent, attachmentNote, MAX_SCANS_PER_EVENT } from "./effects";
import { endpointsById, endpointsOfFiles, findingsOfFile } from "./store";

/** Sends the events of an attachment_events row: one per endpoint it names, in one events/batch call. */
export async function sendAttachmentEvents(env: Env, db: Database, row: OutboxRow): Promise<void> {
  const endpoints = await endpointsById(db, row.tenantId, row.alertIds);
  const sha256 = endpoints[0]?.sha256;
  if (sha256 === undefined) return;
  // One more than named, so an event can say more scans had the file.
  const scans = await findingsOfFile(db, row.tenantId, sha256, MAX_SCANS_PER_EVENT + 1);
  const events = await Promise.all(endpoints.map((e) => attachmentEvent(e, scans)));
  await postEventsBatch(env, row.tenantId, events, row.idempotencyKey);
}

/** Sends an attachment note on its scan, naming the endpoints its payload lists. */
export async function sendAttachmentNote(env: Env, db: Database, row: OutboxRow): Promise<void> {
  const scan = scanMatchOf(row);
  if (!scan) throw new HostError(false, undefined, "attachment note row without its scan");
  const named = new Set(scan.endpoints ?? []);
  const endpoints = (await endpointsOfFiles(db, row.tenantId, [scan.sha256])).filter((e) => named.has(e.hostname));
  await postScanNote(env, row.tenantId, scan.scanId, attachmentNote(scan, endpoints), row.idempotencyKey);
}
