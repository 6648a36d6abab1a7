/** A detection as the host's "Malicious File in Endpoint" event (host contract §3.1). */
import { statusLabel } from "../cynet/labels";
import { MAX_TITLE_LENGTH, type HostEvent } from "../host/schemas";
import { MALICIOUS_FILE_EVENT } from "../manifest";
import type { DetectionRow } from "../storage/schema";
import { outboxKeys } from "./keys";
import { fileSeverity } from "./severity";

/** Hex characters of the SHA-256 that name a file Cynet gave no name: enough to tell files apart at a glance. */
const UNNAMED_FILE_HASH_CHARS = 12;

/** What events, notes and IR requests call a file Cynet gave no name. */
export function unnamedFile(sha256: string): string {
  return `file ${sha256.slice(0, UNNAMED_FILE_HASH_CHARS)}…`;
}

/**
 * Builds the event for one stored detection, with the MD5 and SHA-1 correlation had learned
 * when it is built (null before: an event is sent once and never updated, see docs/operations.md).
 */
export function detectionEvent(row: DetectionRow, hashes: { md5?: string | null; sha1?: string | null } = {}): HostEvent {
  const file = row.fileName ?? unnamedFile(row.sha256);
  const endpoint = row.hostName ?? row.hostIp ?? "an endpoint";
  const severity = fileSeverity([row.cynetSeverity]);
  return {
    idempotencyKey: outboxKeys.event(row.tenantId, row.alertId),
    type: MALICIOUS_FILE_EVENT.type,
    severity: severity.event,
    occurredAt: row.detectedAt.toISOString(),
    title: `Malicious file ${file} on ${endpoint}`.slice(0, MAX_TITLE_LENGTH),
    details: {
      source: "Cynet",
      severity: severity.text,
      file: { name: row.fileName, path: row.path, sha256: row.sha256, md5: hashes.md5 ?? null, sha1: hashes.sha1 ?? null },
      endpoint: { hostName: row.hostName, ip: row.hostIp, hostId: row.hostId, user: row.userName },
      cynet: {
        alertId: row.alertId,
        severity: severity.cynet,
        severityCode: row.cynetSeverity,
        status: statusLabel(row.cynetStatus),
        statusCode: row.cynetStatus,
        incidentName: row.incidentName,
        detectedAt: row.detectedAt.toISOString(),
        firstSeenAt: row.firstSeenAt?.toISOString() ?? null,
        lastSeenAt: row.lastSeenAt?.toISOString() ?? null,
      },
    },
  };
}
