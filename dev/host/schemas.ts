import { z } from "zod";

/** Most events one batch call may carry (host-contract.md §4). */
export const MAX_BATCH_EVENTS = 100;
/** Most hashes one scan search may carry, all types together (host-contract.md §4). */
export const MAX_SEARCH_HASHES = 100;
/** Most scans one seeding call may carry: plenty for any test. */
const MAX_SEEDED_SCANS = 10_000;
/** Most recipients a scan names: a mail to a list, not a directory. */
const MAX_RECIPIENTS = 100;
/** Longest id, key, name or type: far beyond any real one. */
const MAX_NAME_LENGTH = 255;
/** Longest title or subject: a sentence or two. */
const MAX_TITLE_LENGTH = 500;
/** Longest free text (note text, descriptions): a long report. */
const MAX_TEXT_LENGTH = 20_000;
/** Tenant ids: the characters a URL path segment carries unescaped. */
const TENANT_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

const name = z.string().min(1).max(MAX_NAME_LENGTH);
const title = z.string().min(1).max(MAX_TITLE_LENGTH);
const longText = z.string().min(1).max(MAX_TEXT_LENGTH);
const object = z.record(z.string(), z.unknown());
const hex = (chars: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${chars}}$`), `expected ${chars} hex characters`);

/** Hash lengths in hex characters, by type. */
export const HASH_CHARS = { sha256: 64, md5: 32, sha1: 40 } as const;
/** The hash types scans are indexed by. */
export type HashType = keyof typeof HASH_CHARS;

/** A tenant id in a path. */
export const tenantIdSchema = z.string().regex(TENANT_ID_PATTERN, "expected 1 to 128 of A-Z a-z 0-9 . _ -");
/** The Idempotency-Key header. */
export const idempotencyKeySchema = name;

const eventFields = {
  type: name,
  severity: z.enum(["info", "low", "medium", "high", "critical"]),
  occurredAt: z.iso.datetime({ offset: true }),
  title,
  details: object,
};

/** Body of `POST /events`. */
export const eventSchema = z.object(eventFields);
/** Body of `POST /events/batch`. */
export const eventBatchSchema = z.object({
  events: z.array(z.object({ idempotencyKey: name, ...eventFields })).min(1).max(MAX_BATCH_EVENTS),
});
/** Body of `POST /scans/search`. */
export const scanSearchSchema = z
  .object({
    sha256: z.array(hex(HASH_CHARS.sha256)).default([]),
    md5: z.array(hex(HASH_CHARS.md5)).default([]),
    sha1: z.array(hex(HASH_CHARS.sha1)).default([]),
  })
  .refine((b) => b.sha256.length + b.md5.length + b.sha1.length <= MAX_SEARCH_HASHES, {
    message: `at most ${MAX_SEARCH_HASHES} hashes in all`,
  });
/** Body of `POST /scans/:scanId/notes`. */
export const noteSchema = z.object({ author: name, text: longText });
/** Body of `POST /ir-requests`. */
export const irRequestSchema = z.object({
  scanId: name,
  subject: title,
  description: longText,
  priority: name,
  evidence: z.union([object, z.array(z.unknown())]),
});
/** A scan as seeded and stored. */
export const scanSchema = z
  .strictObject({
    scanId: name,
    fileName: name,
    scannedAt: z.iso.datetime({ offset: true }),
    sha256: hex(HASH_CHARS.sha256).optional(),
    md5: hex(HASH_CHARS.md5).optional(),
    sha1: hex(HASH_CHARS.sha1).optional(),
    /** When the dev host's own scanner convicted the file (set by a conviction, host-contract.md §2 findings). */
    convictedAt: z.iso.datetime({ offset: true }).optional(),
    /** Who received the email, named in the finding the conviction sends. */
    recipients: z.array(name).max(MAX_RECIPIENTS).optional(),
  })
  .refine((s) => s.sha256 !== undefined || s.md5 !== undefined || s.sha1 !== undefined, {
    message: "give at least one of sha256, md5, sha1",
    path: ["sha256"],
  });
/** Body of `PUT /__host/tenants/:t/scans`. */
export const seedScansSchema = z.strictObject({ scans: z.array(scanSchema).min(1).max(MAX_SEEDED_SCANS) });

/** A seeded scan. */
export type SeededScan = z.infer<typeof scanSchema>;
