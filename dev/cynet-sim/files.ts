import { alertFileHash, type SimAlert } from "./alert";
import type { SimFile } from "./generate";

/** One endpoint where a file was seen, as `full/file` lists it. */
interface Occurrence {
  hostname: string;
  full_path: string;
  filename: string;
}

/** The body of `GET /api/full/file`. */
export interface FileRecord {
  sha256: string;
  md5: string;
  sha1: string;
  common_filename: string;
  common_path: string;
  first_seen: string;
  last_seen: string;
  risk_level: number;
  av_detections: number;
  is_whitelisted: "true" | "false";
  occurrences: Occurrence[];
}

/** Builds the file record of `file` from the alerts that mention its hash. */
export function fileRecord(file: SimFile, alerts: readonly SimAlert[]): FileRecord {
  const seen = new Map<string, Occurrence>();
  let firstSeen = file.firstSeen;
  let lastSeen = file.firstSeen;
  for (const alert of alerts) {
    if (alertFileHash(alert) !== file.sha256) continue;
    // Every time the simulator writes is ISO-8601 UTC with milliseconds, so strings order like times.
    if (alert.FirstSeenUtc != null && alert.FirstSeenUtc < firstSeen) firstSeen = alert.FirstSeenUtc;
    if (alert.LastSeenUtc > lastSeen) lastSeen = alert.LastSeenUtc;
    const hostname = alert.HostName ?? "";
    const fullPath = alert.Path ?? file.path;
    seen.set(`${hostname}\n${fullPath}`, { hostname, full_path: fullPath, filename: file.fileName });
  }
  return {
    sha256: file.sha256,
    md5: file.md5,
    sha1: file.sha1,
    common_filename: file.fileName,
    common_path: file.path,
    first_seen: firstSeen,
    last_seen: lastSeen,
    risk_level: file.riskLevel,
    av_detections: file.avDetections,
    is_whitelisted: file.whitelisted ? "true" : "false",
    occurrences: [...seen.values()],
  };
}
