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

/** Alerts by file hash, built once per alert list (and again after alerts are appended), so a lookup is not a scan. */
const byHashCache = new WeakMap<readonly SimAlert[], { length: number; index: Map<string, SimAlert[]> }>();

function alertsOf(sha256: string, alerts: readonly SimAlert[]): SimAlert[] {
  let cached = byHashCache.get(alerts);
  if (!cached || cached.length !== alerts.length) {
    const index = new Map<string, SimAlert[]>();
    for (const alert of alerts) {
      const hash = alertFileHash(alert);
      if (hash) index.set(hash, [...(index.get(hash) ?? []), alert]);
    }
    cached = { length: alerts.length, index };
    byHashCache.set(alerts, cached);
  }
  return cached.index.get(sha256) ?? [];
}

/** Builds the file record of `file` from the alerts that mention its hash. */
export function fileRecord(file: SimFile, alerts: readonly SimAlert[]): FileRecord {
  const seen = new Map<string, Occurrence>();
  let firstSeen = file.firstSeen;
  let lastSeen = file.firstSeen;
  for (const alert of alertsOf(file.sha256, alerts)) {
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
