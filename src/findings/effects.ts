/**
 * What the host receives about a convicted attachment Cynet has on endpoints (host contract §2,
 * findings): one "Malicious Attachment on Endpoint" event per (file, endpoint), and a note on the
 * scan naming the endpoints. Built at send time from the stored rows, so nothing is stored twice.
 */
import { MAX_NOTE_TEXT_LENGTH, MAX_TITLE_LENGTH, type HostEvent, type HostSeverity, type NoteRequest } from "../host/schemas";
import { MALICIOUS_ATTACHMENT_EVENT } from "../manifest";
import { readableTimeText } from "../shared/http-time";
import type { FindingEndpointRow, FindingRow, ScanMatchPayload } from "../storage/schema";
import { unnamedFile } from "../dispatch/events";
import { keyDigest, outboxKeys } from "../dispatch/keys";

/** Scans an event names: the file's first ones; one attachment in more emails than that is already a campaign. */
export const MAX_SCANS_PER_EVENT = 20;

/** The event's severity: the manifest's (high), critical when the file ran on the endpoint. */
export function attachmentSeverity(endpoint: Pick<FindingEndpointRow, "ranAsProcess">): HostSeverity {
  return endpoint.ranAsProcess ? "critical" : MALICIOUS_ATTACHMENT_EVENT.severity;
}

/** A time Cynet wrote, as ISO when it reads as one, else as Cynet wrote it. */
function cynetTime(value: string | null): string | null {
  if (value === null) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

/** The name a convicted file goes by: the host's, else Cynet's, else a hash prefix. */
export function attachmentName(sha256: string, scans: Pick<FindingRow, "fileName">[], endpoint?: Pick<FindingEndpointRow, "fileName">): string {
  return scans.find((s) => s.fileName)?.fileName ?? endpoint?.fileName ?? unnamedFile(sha256);
}

/** The event of one endpoint a convicted file is on, naming the scans the file was in (`scans`, oldest first). */
export async function attachmentEvent(endpoint: FindingEndpointRow, scans: FindingRow[]): Promise<HostEvent> {
  const file = attachmentName(endpoint.sha256, scans, endpoint);
  const named = scans.slice(0, MAX_SCANS_PER_EVENT);
  return {
    idempotencyKey: outboxKeys.attachmentEvent({ tenantId: endpoint.tenantId, sha256: endpoint.sha256, hostDigest: await keyDigest(endpoint.hostname) }),
    type: MALICIOUS_ATTACHMENT_EVENT.type,
    severity: attachmentSeverity(endpoint),
    occurredAt: endpoint.foundAt.toISOString(),
    title: `Malicious attachment ${file} on ${endpoint.hostname}${endpoint.ranAsProcess ? " (it ran)" : ""}`.slice(0, MAX_TITLE_LENGTH),
    details: {
      source: "Cynet",
      reason: "The host's scanner convicted this attachment; Cynet has the file on this endpoint.",
      file: { name: file, sha256: endpoint.sha256, path: endpoint.fullPath, nameOnEndpoint: endpoint.fileName },
      endpoint: {
        hostName: endpoint.hostname,
        path: endpoint.fullPath,
        fileType: endpoint.fileType,
        ranAsProcess: endpoint.ranAsProcess,
        ownerUser: endpoint.ownerUser,
        runningUser: endpoint.runningUser,
        createdAt: cynetTime(endpoint.creationTime),
        lastRunAt: cynetTime(endpoint.lastRunTime),
      },
      scans: named.map((s) => ({ scanId: s.scanId, fileName: s.fileName, convictedAt: s.foundAt.toISOString(), recipients: s.recipients })),
      moreScans: Math.max(0, scans.length - named.length),
      foundOnEndpointAt: endpoint.foundAt.toISOString(),
    },
  };
}

/** How a note names one endpoint: its name, the path, and whether and when the file ran there. */
function endpointPhrase(e: FindingEndpointRow): string {
  const ran = e.ranAsProcess ? `, ran as a process${e.lastRunTime ? ` (last ${readableTimeText(e.lastRunTime)})` : ""}` : "";
  const user = e.runningUser ?? e.ownerUser;
  return `${e.hostname}${e.fullPath ? ` at ${e.fullPath}` : ""}${user ? `, user ${user}` : ""}${ran}`;
}

/** The note on the scan: where Cynet has the attachment this scan convicted (`endpoints`: the ones the note names). */
export function attachmentNote(match: ScanMatchPayload, endpoints: FindingEndpointRow[]): NoteRequest {
  const file = match.fileName ?? endpoints.find((e) => e.fileName)?.fileName ?? unnamedFile(match.sha256);
  const ran = endpoints.filter((e) => e.ranAsProcess).length;
  const lead = match.followUp ? "Cynet now also has the attachment this scan convicted on" : "Cynet has the attachment this scan convicted on";
  const count = endpoints.length === 1 ? "1 endpoint" : `${endpoints.length} endpoints`;
  const where = [...endpoints].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0)).map(endpointPhrase).join("; ");
  const severity = ran > 0 ? ` It ran on ${ran === 1 ? "1 of them" : `${ran} of them`}: events of severity critical were raised for those, high for the others.` : " An event of severity high was raised for each.";
  return {
    author: "Cynet",
    text: `${lead} ${count}: ${where}. File: ${file}, SHA-256 ${match.sha256}.${severity}`.slice(0, MAX_NOTE_TEXT_LENGTH),
  };
}
