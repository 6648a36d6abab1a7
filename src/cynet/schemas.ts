/**
 * Cynet's answers as cynet-api.md describes them, parsed rather than cast. Every alert field
 * may be missing, null or of an unexpected type: a field that does not fit reads as absent
 * instead of throwing away the whole alert.
 */
import { z } from "zod";

/** A field that reads as `undefined` when missing, null or not of the expected type. */
const tolerant = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);
const str = tolerant(z.string());
const int = tolerant(z.number().int());
const num = tolerant(z.number());

/** Longest access token accepted: Cynet's are opaque strings well under it; it is sealed, stored and sent as a header. */
const MAX_TOKEN_LENGTH = 8192;

/** POST /api/account/token → 200. */
export const TokenResponse = z.object({ access_token: z.string().min(1).max(MAX_TOKEN_LENGTH) });

/**
 * The `File` object inside an alert: the fields the plugin reads. Others Cynet sends (risk
 * levels, antivirus names, endpoint counts) are left unread rather than validated for nothing.
 */
export const CynetAlertFile = z.object({
  Sha256: str,
  CommonFileName: str,
  DateIn: str,
  LastSeen: str,
});

/**
 * What decides whether an alert is considered at all: its id and type. Read first, so the
 * alerts that are not files (a third of a typical page) skip the full parse.
 */
export const CynetAlertHeader = z.object({
  ClientDbId: int,
  AlertType: int,
});

/**
 * One alert from /api/alerts/bulk: the fields the plugin reads (sync/rule.ts). The parent
 * process's hash in IncidentJsonDescription is deliberately not among them.
 */
export const CynetAlert = CynetAlertHeader.extend({
  Sha256: str,
  Sha256Hex: str,
  Path: str,
  File: tolerant(CynetAlertFile),
  HostName: str,
  HostIp: str,
  HostId: int,
  UserName: str,
  DateIn: str,
  FirstSeenUtc: str,
  LastSeenUtc: str,
  LastSeen: str,
  Severity: int,
  Status: int,
  /** When the alert last changed (an analyst set its Status): orders changes read from alerts/bulkByDateChanged. */
  DateChanged: str,
  IncidentName: str,
});
export type CynetAlert = z.infer<typeof CynetAlert>;

/** Most entities accepted in one page; guards memory against a server ignoring Limit. */
export const MAX_ENTITIES_PER_PAGE = 1000;

/** GET /api/alerts/bulk → 200. Entities stay raw here; each is parsed on its own. */
export const AlertsPage = z.object({
  SyncTimeUtc: z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not a date-time"),
  Entities: z.array(z.unknown()).max(MAX_ENTITIES_PER_PAGE),
});
export type AlertsPage = z.infer<typeof AlertsPage>;

/** Most occurrences read from one file record; guards memory against a file on every endpoint of a huge tenant. */
export const MAX_OCCURRENCES_PER_FILE = 10_000;

/**
 * One endpoint a file record lists (cynet-api.md, "Finding a file on the endpoints"). Every field
 * may be missing or of another type: it then reads as absent.
 */
export const FileOccurrence = z.object({
  hostname: str,
  full_path: str,
  filename: str,
  /** "PROCESS" when the file ran. */
  file_type: str,
  creation_time: str,
  last_run_time: str,
  owner_user: str,
  running_user: str,
});
export type FileOccurrence = z.infer<typeof FileOccurrence>;

/** GET /api/full/file → 200: the hashes and names Cynet knows for a file, and the endpoints it is on. */
export const FileRecord = z.object({
  sha256: z.string(),
  md5: tolerant(z.string()),
  sha1: tolerant(z.string()),
  common_filename: str,
  common_path: str,
  first_seen: str,
  last_seen: str,
  risk_level: num,
  av_detections: num,
  is_whitelisted: str,
  /** Raw here; each is parsed on its own (FileOccurrence), so one odd entry does not lose the others. */
  occurrences: tolerant(z.array(z.unknown()).max(MAX_OCCURRENCES_PER_FILE)),
});
export type FileRecord = z.infer<typeof FileRecord>;

/** Most remediation items accepted from one call: one host's request makes one or a few. */
export const MAX_REMEDIATION_ITEMS = 100;
/** A remediation call → 200: the remediation items Cynet created (cynet-api.md, "Response actions"); a host call may name none. */
export const RemediationAnswer = z.object({ remediation_items: z.array(z.number().int()).max(MAX_REMEDIATION_ITEMS).optional() });

/** Longest statusInfo kept: Cynet's are short sentences. */
export const MAX_STATUS_INFO_LENGTH = 500;

/** GET /api/file/remediation/{id} → 200: the item's numeric status (meaning not public) and Cynet's words for it. */
export const RemediationStatus = z.object({
  id: tolerant(z.number().int()),
  status: z.number().int().nullable().optional().catch(null),
  statusInfo: z.string().nullable().optional().catch(null).transform((s) => s?.slice(0, MAX_STATUS_INFO_LENGTH) ?? null),
});
export type RemediationStatus = z.infer<typeof RemediationStatus>;
