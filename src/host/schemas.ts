/** Bodies of the host API calls (host contract §4), in and out. */
import { z } from "zod";

/** Most events one events/batch call carries (contract §4). */
export const MAX_EVENTS_PER_BATCH = 100;
/** Most hashes one scans/search call carries (contract §4). */
export const MAX_HASHES_PER_SEARCH = 100;
/** Longest idempotency key in an events/batch body: ours (dispatch/keys.ts) stay under it even with a 64-character tenant id. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
/** Longest scan id taken from the host: it goes into a URL path and, digested, into keys. */
export const MAX_SCAN_ID_LENGTH = 200;
/** Longest event title and IR request subject: one line in the host's lists. */
export const MAX_TITLE_LENGTH = 300;
/** Longest scan note: a few sentences, so a file on thousands of endpoints still makes a note one reads. */
export const MAX_NOTE_TEXT_LENGTH = 4000;
/** Longest IR request description: room for the endpoint list of a widespread file, not for megabytes. */
export const MAX_IR_DESCRIPTION_LENGTH = 8000;

/** The host's severity scale: event severities and IR request priorities (contract §1, §4). */
export const HostSeverity = z.enum(["low", "medium", "high", "critical"]);
export type HostSeverity = z.infer<typeof HostSeverity>;

/** The hashes the host indexes scans by (contract §4) and a verdict is asked about (§2). */
export const HashType = z.enum(["sha256", "md5", "sha1"]);
export type HashType = z.infer<typeof HashType>;

/** One event of the tenant's event log. */
export const HostEvent = z.object({
  idempotencyKey: z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH),
  type: z.string(),
  severity: HostSeverity,
  occurredAt: z.iso.datetime(),
  title: z.string().max(MAX_TITLE_LENGTH),
  details: z.record(z.string(), z.unknown()),
});
export type HostEvent = z.infer<typeof HostEvent>;

export const EventsBatchRequest = z.object({ events: z.array(HostEvent).min(1).max(MAX_EVENTS_PER_BATCH) });

export const EventsBatchResponse = z.object({
  results: z.array(z.object({ idempotencyKey: z.string(), eventId: z.string(), duplicate: z.boolean() })),
});
export type EventsBatchResponse = z.infer<typeof EventsBatchResponse>;

export const ScansSearchRequest = z.object({
  sha256: z.array(z.string()),
  md5: z.array(z.string()),
  sha1: z.array(z.string()),
});
export type ScansSearchRequest = z.infer<typeof ScansSearchRequest>;

export const ScanMatch = z.object({
  scanId: z.string().min(1).max(MAX_SCAN_ID_LENGTH),
  hash: z.string(),
  hashType: HashType,
  fileName: z.string().nullish(),
  scannedAt: z.string().nullish(),
});
export type ScanMatch = z.infer<typeof ScanMatch>;
export const ScansSearchResponse = z.object({ matches: z.array(ScanMatch) });

export const NoteRequest = z.object({ author: z.literal("Cynet"), text: z.string().min(1).max(MAX_NOTE_TEXT_LENGTH) });
export type NoteRequest = z.infer<typeof NoteRequest>;
export const NoteResponse = z.object({ noteId: z.string() });

export const IrRequest = z.object({
  scanId: z.string(),
  subject: z.string().max(MAX_TITLE_LENGTH),
  description: z.string().max(MAX_IR_DESCRIPTION_LENGTH),
  priority: HostSeverity,
  evidence: z.record(z.string(), z.unknown()),
});
export type IrRequest = z.infer<typeof IrRequest>;
export const IrResponse = z.object({ requestId: z.string() });
