import { z } from "zod";

/** Longest free-text field an appended alert may carry: generous for paths and JSON descriptions. */
const MAX_TEXT_LENGTH = 10_000;

const text = z.string().max(MAX_TEXT_LENGTH).nullish();
const int = z.number().int().nullish();

/** The `File` object of an alert (every field may be missing or null, unknown ones are kept). */
export const alertFileSchema = z.looseObject({
  Sha256: text,
  CommonFileName: text,
  RiskLevel: int,
  VtRiskLevel: int,
  Antivirus: text,
  EndPoints: int,
  DateIn: text,
  LastSeen: text,
});

/** Fields a caller may give an appended alert; the simulator sets `ClientDbId` and `LastSeenUtc`. */
export const alertInputSchema = z.looseObject({
  Uniqueness: text,
  AlertType: int,
  Status: int,
  Sha256: text,
  Sha256Hex: text,
  Path: text,
  File: alertFileSchema.nullish(),
  HostName: text,
  HostIp: text,
  HostId: int,
  UserName: text,
  DateIn: text,
  FirstSeenUtc: text,
  LastSeen: text,
  DateChanged: text,
  Severity: int,
  IncidentName: text,
  IncidentJsonDescription: text,
  Domain: text,
  RemoteIp: text,
  Url: text,
});

/** A stored alert: the input fields plus the two the simulator owns. */
export const alertSchema = alertInputSchema.extend({
  ClientDbId: z.number().int(),
  LastSeenUtc: z.string(),
});

/** Fields a caller may give an appended alert. */
export type AlertInput = z.infer<typeof alertInputSchema>;
/** An alert as the simulator stores and serves it. */
export type SimAlert = z.infer<typeof alertSchema>;
/** The `File` object of an alert. */
export type AlertFile = z.infer<typeof alertFileSchema>;

const SHA256_PATTERN = /^[0-9a-f]{64}$/i;

/** The alert's file SHA-256 (top level first, then `File`), lower-cased, or null when absent or invalid. */
export function alertFileHash(alert: SimAlert): string | null {
  const raw = alert.Sha256 ?? alert.Sha256Hex ?? alert.File?.Sha256 ?? null;
  return raw !== null && SHA256_PATTERN.test(raw) ? raw.toLowerCase() : null;
}
