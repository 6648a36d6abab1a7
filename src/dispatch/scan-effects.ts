/**
 * The IR request and the scan note for a scan match (host contract §3.2), written so an
 * analyst can act without opening anything else: which file and its hashes, which endpoints,
 * when Cynet detected it, Cynet's severity and incident, the scan, and what is asked.
 */
import { readableTime, readableTimeText } from "../shared/http-time";
import { MAX_IR_DESCRIPTION_LENGTH, MAX_NOTE_TEXT_LENGTH, MAX_TITLE_LENGTH, type IrRequest, type NoteRequest } from "../host/schemas";
import type { DetectionRow, FileHashRow, ScanMatchPayload } from "../storage/schema";
import { endpointOf } from "./correlate";
import { unnamedFile } from "./events";
import { fileSeverity } from "./severity";
import { availableActions } from "../actions/offer";

const byTime = (a: DetectionRow, b: DetectionRow) => a.detectedAt.getTime() - b.detectedAt.getTime();

/** The note on the scan: "Cynet found this file malicious on endpoint X at T", and where else. */
export function scanNote(match: ScanMatchPayload, found: DetectionRow[]): NoteRequest {
  const sorted = [...found].sort(byTime);
  const firstSeen = new Map<string, DetectionRow>();
  for (const d of sorted) if (!firstSeen.has(endpointOf(d))) firstSeen.set(endpointOf(d), d);
  const [head, ...rest] = [...firstSeen.values()];
  const file = match.fileName ?? head?.fileName ?? "this file";
  const where = head ? `on endpoint ${endpointOf(head)} at ${readableTime(head.detectedAt)}` : "on an endpoint";
  const also = rest.length ? ` Also on ${rest.map((d) => `${endpointOf(d)} at ${readableTime(d.detectedAt)}`).join(", ")}.` : "";
  const alert = head ? ` Cynet alert ${head.alertId}${head.incidentName ? ` (${head.incidentName})` : ""}.` : "";
  // The worst rating of the detections the note names, in the IR request's words: the first
  // note names the same detections as the request, so it also states the request's priority.
  const severity = fileSeverity(found.map((d) => d.cynetSeverity));
  const tail = match.followUp ? " The IR request for this scan is already open." : ` An IR request, priority ${severity.priority}, was opened for this scan.`;
  return {
    author: "Cynet",
    text: `Cynet found this file malicious ${where}.${also} File: ${file}, SHA-256 ${match.sha256}.${alert} ${severity.text}.${tail}`.slice(0, MAX_NOTE_TEXT_LENGTH),
  };
}

/**
 * The note a later Cynet decision sends each scan the file was matched in: the file no longer
 * counts as malicious (why, which alert, when), or counts again. Says what the host's verdicts
 * now answer, so the analyst knows what the scanner will do with the file from now on.
 */
export function decisionNote(match: ScanMatchPayload): NoteRequest {
  const decision = match.decision!;
  const file = `${match.fileName ?? "this file"}, SHA-256 ${match.sha256}`;
  const when = readableTime(new Date(decision.at));
  const why =
    decision.reason === "whitelisted"
      ? `Cynet lists the file as whitelisted (learned ${when})`
      : `Cynet alert ${decision.alertId ?? "unknown"} was set to Ignored in Cynet at ${when}, and no other detection of the file counts`;
  const text = decision.malicious
    ? `Cynet considers this file malicious again: a detection of it counts again in Cynet (an alert re-opened or raised anew), at ${when}. File: ${file}. Cynet's verdict for it is malicious again.`
    : `Cynet no longer considers this file malicious: ${why}. File: ${file}. Cynet's verdict for it is now not malicious; the IR request for this scan stays as the IR team left it.`;
  return { author: "Cynet", text: text.slice(0, MAX_NOTE_TEXT_LENGTH) };
}

/** The request to the IR team for a scan that included a file Cynet found malicious. */
export function irRequest(match: ScanMatchPayload, found: DetectionRow[], hashes: FileHashRow | undefined): IrRequest {
  const sorted = [...found].sort(byTime);
  const first = sorted[0];
  const endpoints = [...new Map(sorted.map((d) => [endpointOf(d), d])).values()];
  const file = match.fileName ?? first?.fileName ?? unnamedFile(match.sha256);
  const severity = fileSeverity(found.map((d) => d.cynetSeverity));
  const offer = availableActions(match.sha256, endpoints.flatMap((d) => (d.hostName ? [d.hostName] : [])));
  const endpointList = endpoints.map((d) => `${endpointOf(d)}${d.hostIp && d.hostName ? ` (${d.hostIp})` : ""}${d.userName ? `, user ${d.userName}` : ""}, detected ${readableTime(d.detectedAt)}`);
  const description = [
    `Cynet found the file ${file} malicious, and the file was in scan ${match.scanId}${match.scannedAt ? ` of ${readableTimeText(match.scannedAt)}` : ""} (matched by ${match.hashType.toUpperCase()}).`,
    "Please investigate this scan and mitigate the threat: find who received or opened the file, remove it, and check the endpoints below.",
    "",
    `File: ${file}${first?.path ? `, path ${first.path}` : ""}`,
    `SHA-256: ${match.sha256}`,
    ...(hashes?.md5 ? [`MD5: ${hashes.md5}`] : []),
    ...(hashes?.sha1 ? [`SHA-1: ${hashes.sha1}`] : []),
    `Endpoints (${endpoints.length}):`,
    ...endpointList.map((e) => `- ${e}`),
    `${severity.text}.`,
    `Cynet alert${found.length > 1 ? "s" : ""} ${found.map((d) => d.alertId).join(", ")}${first?.incidentName ? `, incident "${first.incidentName}"` : ""}, first detected ${first ? readableTime(first.detectedAt) : "unknown"}.`,
    offer.text,
  ].join("\n");
  return {
    scanId: match.scanId,
    subject: `Investigate scan ${match.scanId}: Cynet found ${file} malicious on ${endpoints.length === 1 ? endpointOf(endpoints[0]!) : `${endpoints.length} endpoints`}`.slice(0, MAX_TITLE_LENGTH),
    description: description.slice(0, MAX_IR_DESCRIPTION_LENGTH),
    priority: severity.priority,
    evidence: {
      source: "Cynet",
      severity: severity.text,
      scanId: match.scanId,
      scannedAt: match.scannedAt,
      matchedBy: { hashType: match.hashType, hash: match.matchedHash },
      file: { name: file, path: first?.path ?? null, sha256: match.sha256, md5: hashes?.md5 ?? null, sha1: hashes?.sha1 ?? null },
      endpoints: endpoints.map((d) => ({ hostName: d.hostName, ip: d.hostIp, user: d.userName, detectedAt: d.detectedAt.toISOString(), alertId: d.alertId })),
      cynet: {
        severity: severity.cynet,
        incidentName: first?.incidentName ?? null,
        alertIds: found.map((d) => d.alertId),
        firstDetectedAt: first?.detectedAt.toISOString() ?? null,
      },
      requested: "Investigate the scan and mitigate the threat.",
      actions: offer.evidence,
    },
  };
}
