/**
 * Verdicts for the host's scanner (host contract §2): which of up to 1000 hashes, of any type
 * and case, Cynet found malicious in this tenant. Answered by one indexed D1 statement
 * however many hashes are asked (./lookup.ts), read through a D1 session so a read replica
 * may serve it (the bookmark rule: storage/sessions.ts).
 */
import { z } from "zod";
import type { AppContext, Route } from "../http/context";
import { HashType } from "../host/schemas";
import { REVOCATION_REASONS } from "../storage/schema";
import { ApiError } from "../http/errors";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import { tenantDatabase } from "../storage/directory";
import { BOOKMARK_HEADER, D1Bookmark, replicaRead } from "../storage/sessions";
import { FoundHashes, verdictLookup } from "./lookup";

/** Most hashes one verdict call may ask (contract §2). */
export const MAX_VERDICT_HASHES = 1000;
/** Bad entries named in one 400; enough to fix a batch without echoing a thousand. */
const MAX_NAMED_BAD_ENTRIES = 10;

/** A hash's type by its length in hex. */
const HASH_TYPE_BY_LENGTH = { 32: "md5", 40: "sha1", 64: "sha256" } as const satisfies Record<number, HashType>;

export const VerdictRequest = z
  .object({ hashes: z.array(z.unknown()).min(1, "Ask about at least one hash").max(MAX_VERDICT_HASHES, `At most ${MAX_VERDICT_HASHES} hashes per call`) })
  .strict()
  .meta({ id: "VerdictRequest" });

const Verdict = z.object({
  hash: z.string().describe("The hash as asked, lower-cased"),
  hashType: HashType,
  malicious: z.boolean(),
  firstDetectedAt: z.iso.datetime().optional(),
  endpoints: z.number().int().optional().describe("Distinct endpoints Cynet found the file on (detections that still count)"),
  revoked: z
    .object({
      at: z.iso.datetime().describe("When Cynet decided: the alert's DateChanged, or when the file was looked up and found whitelisted"),
      reason: z.enum(REVOCATION_REASONS).describe("ignored: the last alert that counted was set to Ignored in Cynet; whitelisted: Cynet lists the file as whitelisted"),
      alertId: z.number().int().nullable().describe("The Cynet alert whose decision left no detection counting"),
    })
    .optional()
    .describe("Set when Cynet found the file malicious before and no detection of it counts any more"),
});
export const VerdictResponse = z.object({ results: z.array(Verdict) }).meta({ id: "VerdictResponse" });
/** The request's optional bookmark: the answer is then read from a database at least that recent. */
const VerdictHeaders = z.object({ [BOOKMARK_HEADER]: D1Bookmark.optional() });
type Verdict = z.infer<typeof Verdict>;

/** Sorts asked hashes by type; returns the bad entries (index and why) instead when there are any. */
export function classifyHashes(hashes: unknown[]): { ok: true; byType: Map<string, HashType> } | { ok: false; bad: Array<{ index: number; why: string }> } {
  const byType = new Map<string, HashType>();
  const bad: Array<{ index: number; why: string }> = [];
  hashes.forEach((entry, index) => {
    if (typeof entry !== "string") return bad.push({ index, why: "not a string" });
    const hash = entry.trim().toLowerCase();
    const type = HASH_TYPE_BY_LENGTH[hash.length as keyof typeof HASH_TYPE_BY_LENGTH];
    if (!type || !/^[0-9a-f]+$/.test(hash)) return bad.push({ index, why: "not a hex MD5, SHA-1 or SHA-256" });
    byType.set(hash, type);
  });
  return bad.length ? { ok: false, bad } : { ok: true, byType };
}

async function verdicts(c: AppContext, request: DeclaredRequest<typeof VerdictRequest, undefined, typeof VerdictHeaders>): Promise<Response> {
  const { tenantId } = request;
  const { [BOOKMARK_HEADER]: bookmark } = request.headers();
  const body = request.body();
  const sorted = classifyHashes(body.hashes);
  if (!sorted.ok) {
    const named = sorted.bad.slice(0, MAX_NAMED_BAD_ENTRIES).map((b) => `hashes[${b.index}] is ${b.why}`);
    const more = sorted.bad.length > MAX_NAMED_BAD_ENTRIES ? `, and ${sorted.bad.length - MAX_NAMED_BAD_ENTRIES} more` : "";
    throw new ApiError(400, "invalid_hashes", `${sorted.bad.length} of the hashes are malformed: ${named.join("; ")}${more}.`, `hashes.${sorted.bad[0]!.index}`);
  }
  const of = (type: HashType) => [...sorted.byType].filter(([, t]) => t === type).map(([h]) => h);
  const read = replicaRead((await tenantDatabase(c.env, tenantId)).d1, bookmark);
  const [row] = await read.db.all<{ found: string }>(verdictLookup(tenantId, { sha256: of("sha256"), md5: of("md5"), sha1: of("sha1") }));
  const found = new Map(FoundHashes.parse(JSON.parse(row?.found ?? "[]")).map(([hash, ...hit]) => [hash, hit]));
  const results: Verdict[] = [...sorted.byType].map(([hash, hashType]): Verdict => {
    const hit = found.get(hash);
    if (!hit) return { hash, hashType, malicious: false };
    const [first, endpoints, change] = hit;
    if (first !== null) return { hash, hashType, malicious: true, firstDetectedAt: new Date(first).toISOString(), endpoints };
    const [revokedAt, reason, alertId] = change ?? [null, null, null];
    return { hash, hashType, malicious: false, ...(revokedAt !== null && reason !== null ? { revoked: { at: new Date(revokedAt).toISOString(), reason, alertId } } : {}) };
  });
  const seen = read.bookmark();
  if (seen) c.header(BOOKMARK_HEADER, seen);
  return c.json({ results }, 200);
}

/** The routes of this module. */
export const verdictRoutes: Route[] = [
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/verdicts",
      summary: "Which of up to 1000 hashes (SHA-256, MD5, SHA-1, any case) Cynet found malicious in this tenant; one result per distinct hash",
      signed: true,
      body: VerdictRequest,
      headers: VerdictHeaders,
      responses: {
        200: {
          description: "Verdicts, read from any D1 read replica (replicas take new detections asynchronously, normally within seconds), or from one at least as recent as the bookmark sent",
          schema: VerdictResponse,
          headers: { [BOOKMARK_HEADER]: { description: `The D1 bookmark of the database version this answer read; send it back as ${BOOKMARK_HEADER} to never read an older one.`, schema: D1Bookmark } },
        },
        ...SIGNED_ERRORS,
      },
    },
    verdicts,
  ),
];
