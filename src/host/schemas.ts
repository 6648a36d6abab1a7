/** Bodies of the host API calls (host contract §4), in and out. */
import { z } from "zod";

/** Most events one events/batch call carries (contract §4). */
export const MAX_EVENTS_PER_BATCH = 100;
/** Most hashes one scans/search call carries (contract §4). */
export const MAX_HASHES_PER_SEARCH = 100;

/** One event of the tenant's event log. */
export const HostEvent = z.object({
  idempotencyKey: z.string().min(1).max(200),
  type: z.string(),
  severity: z.enum(["low", "medium", "high", "critical"]),
  occurredAt: z.iso.datetime(),
  title: z.string().max(300),
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
  scanId: z.string().min(1).max(200),
  hash: z.string(),
  hashType: z.enum(["sha256", "md5", "sha1"]),
  fileName: z.string().nullish(),
  scannedAt: z.string().nullish(),
});
export type ScanMatch = z.infer<typeof ScanMatch>;
export const ScansSearchResponse = z.object({ matches: z.array(ScanMatch) });

export const NoteRequest = z.object({ author: z.literal("Cynet"), text: z.string().min(1).max(4000) });
export type NoteRequest = z.infer<typeof NoteRequest>;
export const NoteResponse = z.object({ noteId: z.string() });

export const IrRequest = z.object({
  scanId: z.string(),
  subject: z.string().max(300),
  description: z.string().max(8000),
  priority: z.enum(["low", "medium", "high", "critical"]),
  evidence: z.record(z.string(), z.unknown()),
});
export type IrRequest = z.infer<typeof IrRequest>;
export const IrResponse = z.object({ requestId: z.string() });
