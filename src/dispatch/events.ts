/** A detection as the host's "Malicious File in Endpoint" event (host contract §3.1). */
import { severityLabel, statusLabel } from "../cynet/labels";
import type { HostEvent } from "../host/schemas";
import { MALICIOUS_FILE_EVENT } from "../manifest";
import type { detections } from "../storage/schema";
import { outboxKeys } from "./keys";

export type DetectionRow = typeof detections.$inferSelect;


/** Builds the event for one stored detection. */
export function detectionEvent(row: DetectionRow, hashes: { md5?: string | null; sha1?: string | null } = {}): HostEvent {
  const file = row.fileName ?? `file ${row.sha256.slice(0, 12)}…`;
  const endpoint = row.hostName ?? row.hostIp ?? "an endpoint";
  return {
    idempotencyKey: outboxKeys.event(row.tenantId, row.alertId),
    type: MALICIOUS_FILE_EVENT.type,
    severity: MALICIOUS_FILE_EVENT.severity,
    occurredAt: row.detectedAt.toISOString(),
    title: `Malicious file ${file} on ${endpoint}`.slice(0, 300),
    details: {
      source: "Cynet",
      file: { name: row.fileName, path: row.path, sha256: row.sha256, md5: hashes.md5 ?? null, sha1: hashes.sha1 ?? null },
      endpoint: { hostName: row.hostName, ip: row.hostIp, hostId: row.hostId, user: row.userName },
      cynet: {
        alertId: row.alertId,
        severity: severityLabel(row.cynetSeverity),
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
