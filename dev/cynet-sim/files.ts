import { alertFileHash, type SimAlert } from "./alert";
import type { SimFile } from "./generate";

/** How `full/file` calls a file that ran on the endpoint (cynet-api.md, "Finding a file on the endpoints"). */
export const PROCESS_FILE_TYPE = "PROCESS";
/** How the simulator calls a file that sits on the endpoint without having run (Cynet's other values are not public). */
export const STORED_FILE_TYPE = "FILE";

/** One endpoint where a file was seen, as `full/file` lists it. */
export interface Occurrence {
  hostname: string;
  full_path: string;
  filename: string;
  file_type: string;
  creation_time: string | null;
  last_run_time: string | null;
  owner_user: string | null;
  running_user: string | null;
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

/**
 * Builds the file record of `file` from the alerts that mention its hash, and the occurrences a
 * test placed on endpoints (`placed`, listed after the alerts' and replacing one on the same host and path).
 * An alert's file ran on its endpoint when its id is even: deterministic, and both kinds in every world.
 */
export function fileRecord(file: SimFile, alerts: readonly SimAlert[], placed: readonly Occurrence[] = []): FileRecord {
  const seen = new Map<string, Occurrence>();
  let firstSeen = file.firstSeen;
  let lastSeen = file.firstSeen;
  for (const alert of alertsOf(file.sha256, alerts)) {
    // Every time the simulator writes is ISO-8601 UTC with milliseconds, so strings order like times.
    if (alert.FirstSeenUtc != null && alert.FirstSeenUtc < firstSeen) firstSeen = alert.FirstSeenUtc;
    if (alert.LastSeenUtc > lastSeen) lastSeen = alert.LastSeenUtc;
    const hostname = alert.HostName ?? "";
    const fullPath = alert.Path ?? file.path;
    const ran = alert.ClientDbId % 2 === 0;
    seen.set(`${hostname}\n${fullPath}`, {
      hostname,
      full_path: fullPath,
      filename: file.fileName,
      file_type: ran ? PROCESS_FILE_TYPE : STORED_FILE_TYPE,
      creation_time: alert.FirstSeenUtc ?? alert.LastSeenUtc,
      last_run_time: ran ? alert.LastSeenUtc : null,
      owner_user: alert.UserName ?? null,
      running_user: ran ? (alert.UserName ?? null) : null,
    });
  }
  for (const o of placed) seen.set(`${o.hostname}\n${o.full_path}`, o);
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
