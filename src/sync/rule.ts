/**
 * The "malicious file" rule (cynet-api.md, our choice), in one place: which Cynet alerts
 * become detections, and why the others are skipped.
 *
 * A detection is a file alert (AlertType 0, or no AlertType but a file SHA-256 at the top level
 * or in `File`) whose status is not Ignored (a missing status is not Ignored) with a valid
 * SHA-256. The hash never comes from IncidentJsonDescription: there it is the parent process's.
 */
import { CYNET_STATUS } from "../cynet/labels";
import { CynetAlert, CynetAlertHeader } from "../cynet/schemas";
import type { detections } from "../storage/schema";

/** Cynet's AlertType for a file alert. */
const FILE_ALERT_TYPE = 0;
const SHA256 = /^[0-9a-f]{64}$/;

/** Why an alert did not become a detection. */
export const SKIP_REASONS = ["malformed", "missing_id", "not_file_alert", "missing_hash", "invalid_hash", "ignored"] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/**
 * What the plugin keeps of a malicious file alert: a detections row but for what its write
 * adds (tenant, run, when stored), every column present (sync/state.ts inserts them by name).
 */
export type DetectionInput = Required<Omit<typeof detections.$inferInsert, "tenantId" | "runId" | "storedAt">>;

export type Classified = { kind: "detection"; detection: DetectionInput } | { kind: "skipped"; reason: SkipReason };

/**
 * A changed alert as the change read sees it (alerts/bulkByDateChanged): the status to apply to
 * a stored detection, and the detection it makes when it counts now (an alert first read while
 * Ignored, then re-opened, becomes a detection then, with its event).
 */
export type ClassifiedChange =
  | { kind: "change"; alertId: number; sha256: string; status: number | null; changedAt: Date; detection: DetectionInput | null }
  | { kind: "skipped"; reason: Exclude<SkipReason, "ignored"> };

function date(value: string | undefined): Date | null {
  if (!value) return null;
  // "2026-05-09 14:21:43" is UTC in Cynet's API; make it ISO so Date does not read it as local time.
  const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(value) && !/[zZ]|[+-]\d{2}:?\d{2}$/.test(value) ? `${value.replace(" ", "T")}Z` : value;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/**
 * Longest text kept from an alert field (file name, path, host, user, incident). Real values
 * are far shorter (Windows paths rarely pass 260 characters); the bound keeps one odd alert
 * from inflating a stored row, a D1 statement or an event.
 */
export const MAX_ALERT_TEXT_LENGTH = 1024;

const text = (value: string | undefined): string | null => {
  const trimmed = value?.trim().slice(0, MAX_ALERT_TEXT_LENGTH).trim();
  return trimmed ? trimmed : null;
};

/** The file name: Cynet's common name, else the last segment of the path (taken before the path is cut to length). */
function fileNameOf(alert: CynetAlert): string | null {
  const common = text(alert.File?.CommonFileName);
  if (common) return common;
  return text(alert.Path?.trim().split(/[\\/]/).pop());
}

/** Applies the rule to one raw entity from /api/alerts/bulk. */
export function classifyAlert(raw: unknown, now: Date): Classified {
  const file = parseFileAlert(raw, now);
  if (file.kind === "skipped") return file;
  if (file.detection.cynetStatus === CYNET_STATUS.Ignored) return { kind: "skipped", reason: "ignored" };
  return file;
}

/**
 * Applies the rule to one raw entity from alerts/bulkByDateChanged: every file alert carries a
 * status to apply (Ignored included); it is a detection too unless it is Ignored. An alert
 * without DateChanged is taken as changed when read.
 */
export function classifyChange(raw: unknown, now: Date): ClassifiedChange {
  const file = parseFileAlert(raw, now);
  if (file.kind === "skipped") return file;
  const d = file.detection;
  const counts = d.cynetStatus !== CYNET_STATUS.Ignored;
  return { kind: "change", alertId: d.alertId, sha256: d.sha256, status: d.cynetStatus, changedAt: d.statusChangedAt ?? now, detection: counts ? d : null };
}

/** A file alert with a valid SHA-256 as a detection, whatever its status; otherwise why not. */
function parseFileAlert(raw: unknown, now: Date): { kind: "detection"; detection: DetectionInput } | { kind: "skipped"; reason: Exclude<SkipReason, "ignored"> } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { kind: "skipped", reason: "malformed" };
  const header = CynetAlertHeader.parse(raw);
  if (header.ClientDbId === undefined || header.ClientDbId < 0) return { kind: "skipped", reason: "missing_id" };
  if (header.AlertType !== undefined && header.AlertType !== FILE_ALERT_TYPE) return { kind: "skipped", reason: "not_file_alert" };
  const alert = CynetAlert.parse(raw);

  const candidates = [alert.Sha256, alert.Sha256Hex, alert.File?.Sha256].map((h) => h?.trim().toLowerCase()).filter((h): h is string => !!h);
  if (candidates.length === 0) return { kind: "skipped", reason: alert.AlertType === undefined ? "not_file_alert" : "missing_hash" };
  const sha256 = candidates.find((h) => SHA256.test(h));
  if (!sha256) return { kind: "skipped", reason: "invalid_hash" };

  return {
    kind: "detection",
    detection: {
      alertId: header.ClientDbId,
      sha256,
      fileName: fileNameOf(alert),
      path: text(alert.Path),
      hostName: text(alert.HostName),
      hostIp: text(alert.HostIp),
      hostId: alert.HostId ?? null,
      userName: text(alert.UserName),
      cynetSeverity: alert.Severity ?? null,
      cynetStatus: alert.Status ?? null,
      statusChangedAt: date(alert.DateChanged),
      revokedAt: null,
      revokedReason: null,
      incidentName: text(alert.IncidentName),
      detectedAt: date(alert.DateIn) ?? date(alert.FirstSeenUtc) ?? date(alert.LastSeenUtc) ?? date(alert.LastSeen) ?? now,
      firstSeenAt: date(alert.FirstSeenUtc) ?? date(alert.File?.DateIn),
      lastSeenAt: date(alert.LastSeenUtc) ?? date(alert.LastSeen) ?? date(alert.File?.LastSeen),
    },
  };
}
