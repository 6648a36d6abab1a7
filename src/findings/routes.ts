/**
 * The host's findings (host contract §2): attachments its scanner convicted, looked for on the
 * tenant's endpoints at Cynet at once and on a schedule (./schedule.ts), and their check state.
 */
import { z } from "zod";
import { pagedListQuery } from "../http/paging";
import { WithActor } from "../audit/actor";
import { auditStatement } from "../audit/trail";
import { ErrorBody } from "../http/errors";
import type { AppContext, Route } from "../http/context";
import { SIGNED_ERRORS, tenantRoute, type DeclaredRequest } from "../http/routes";
import { MAX_SCAN_ID_LENGTH } from "../host/schemas";
import { namedBatch, rowsOf } from "../storage/batch";
import { tenantDatabase } from "../storage/directory";
import { requireActiveChannel } from "../sync/routes";
import { checkMessages, FINDING_CHECK_SCHEDULE_MS, FINDING_QUEUE_LEASE_MS, sendChecks } from "./schedule";
import { endpointsOfFiles, insertFindingsStatements, listFindings, markQueued, type NewFinding } from "./store";

/** Most findings one call may carry (contract §2). */
export const MAX_FINDINGS_PER_CALL = 100;
/** Most recipients one finding may name: a mail to a large list, not a directory dump. */
export const MAX_RECIPIENTS_PER_FINDING = 100;
/** Longest recipient address: RFC 5321's 254 characters, with room for a display name. */
const MAX_RECIPIENT_LENGTH = 320;
/** Longest attachment name kept: file systems stop at 255 bytes; longer is not a file name. */
const MAX_FILE_NAME_LENGTH = 255;
/** Largest page of findings one listing returns. */
export const MAX_FINDINGS_LISTED = 100;
const DEFAULT_FINDINGS_LISTED = 25;
/** Endpoints listed per finding: the first found; the events carry every one. */
export const MAX_ENDPOINTS_LISTED = 50;

/** No control characters: scan ids go into a URL path and file names into notes. */
const printable = (what: string) => z.string().regex(/^[^\u0000-\u001f\u007f]*$/, `${what} has control characters`);

export const Finding = z
  .object({
    sha256: z
      .string()
      .trim()
      .regex(/^[0-9a-fA-F]{64}$/, "a SHA-256 is 64 hex characters")
      .transform((h) => h.toLowerCase()),
    scanId: printable("a scan id").min(1, "give the scan's id").max(MAX_SCAN_ID_LENGTH),
    fileName: printable("a file name").trim().min(1).max(MAX_FILE_NAME_LENGTH).optional(),
    recipients: z.array(printable("a recipient").trim().min(1).max(MAX_RECIPIENT_LENGTH)).max(MAX_RECIPIENTS_PER_FINDING).optional(),
    foundAt: z.iso.datetime({ offset: true, error: "an ISO 8601 date-time, e.g. 2026-05-09T14:21:43Z" }).describe("When the host's scanner convicted the attachment"),
  })
  .strict()
  .meta({ id: "Finding" });

export const FindingsRequest = WithActor.extend({
  findings: z.array(Finding).min(1, "Send at least one finding").max(MAX_FINDINGS_PER_CALL, `At most ${MAX_FINDINGS_PER_CALL} findings per call`),
})
  .strict()
  .meta({ id: "FindingsRequest" });

const FindingsAccepted = z
  .object({
    tenantId: z.string(),
    received: z.number().int().describe("Distinct (file, scan) findings in the call"),
    new: z.number().int().describe("Of those, findings the channel had not taken before; each is looked for at Cynet"),
    duplicates: z.number().int().describe("Findings taken before: nothing new is done for them"),
    schedule: z.array(z.string()).describe("When each finding is checked, after it is taken (ISO 8601 durations)"),
  })
  .meta({ id: "FindingsAccepted" });

const FindingEndpoint = z.object({
  hostName: z.string(),
  path: z.string().nullable(),
  ranAsProcess: z.boolean(),
  foundAt: z.iso.datetime(),
});

const FindingView = z
  .object({
    id: z.number().int(),
    sha256: z.string(),
    scanId: z.string(),
    fileName: z.string().nullable(),
    recipients: z.array(z.string()),
    foundAt: z.iso.datetime(),
    submittedAt: z.iso.datetime(),
    checks: z.object({
      done: z.number().int(),
      scheduled: z.number().int(),
      nextCheckAt: z.iso.datetime().nullable().describe("Null once the last scheduled check is done"),
      lastCheckedAt: z.iso.datetime().nullable(),
      lastError: z.string().nullable().describe("Why the last try failed, in words an admin can act on"),
    }),
    endpoints: z.array(FindingEndpoint).describe(`Endpoints Cynet has the file on, as the channel found them (the first ${MAX_ENDPOINTS_LISTED})`),
  })
  .meta({ id: "FindingView" });
const FindingsPage = z.object({ findings: z.array(FindingView), nextBefore: z.number().int().nullable() }).meta({ id: "FindingsPage" });

const FindingsQuery = pagedListQuery("a finding id", "Only findings with a smaller id than this (the previous page's nextBefore)", {
  max: MAX_FINDINGS_LISTED,
  byDefault: DEFAULT_FINDINGS_LISTED,
});

/** An ISO 8601 duration for a schedule offset (whole minutes or hours). */
function isoDuration(ms: number): string {
  if (ms === 0) return "PT0S";
  return ms % 3_600_000 === 0 ? `PT${ms / 3_600_000}H` : `PT${Math.round(ms / 60_000)}M`;
}

async function submitFindings(c: AppContext, request: DeclaredRequest<typeof FindingsRequest>): Promise<Response> {
  const { tenantId } = request;
  const { db } = await tenantDatabase(c.env, tenantId);
  await requireActiveChannel(db, tenantId);
  const { findings, actor } = request.body();
  const now = new Date();
  // One finding per (file, scan), the first given.
  const distinct = new Map<string, (typeof findings)[number]>();
  for (const f of findings) if (!distinct.has(`${f.sha256}\n${f.scanId}`)) distinct.set(`${f.sha256}\n${f.scanId}`, f);
  const rows: NewFinding[] = [...distinct.values()].map((f) => ({
    tenantId,
    sha256: f.sha256,
    scanId: f.scanId,
    fileName: f.fileName ?? null,
    recipients: f.recipients ?? [],
    foundAt: new Date(f.foundAt),
    submittedAt: now,
    nextCheckAt: now,
    // Held for the message sent below; if that send fails, the cron sends it when this runs out.
    queuedUntil: new Date(now.getTime() + FINDING_QUEUE_LEASE_MS),
  }));
  const done = await namedBatch(db, {
    findings: insertFindingsStatements(db, rows),
    audit: [
      auditStatement(db, {
        tenantId,
        actor,
        action: "findings_submitted",
        outcome: "accepted",
        subject: `${rows.length} finding${rows.length === 1 ? "" : "s"} of ${new Set(rows.map((r) => r.scanId)).size} scan(s)`,
        detail: { received: rows.length, files: new Set(rows.map((r) => r.sha256)).size, scanIds: [...new Set(rows.map((r) => r.scanId))].slice(0, 10) },
        at: now,
      }),
    ],
  });
  const added = done.findings.flatMap((r) => rowsOf<{ id: number }>(r)).map((r) => r.id);
  if (added.length) {
    const sent = new Set(await sendChecks(c.env, checkMessages(tenantId, added)));
    // Not sent: due now for the cron's next tick rather than after the lease.
    const unsent = added.filter((id) => !sent.has(id));
    if (unsent.length) await markQueued(db, unsent, now, now);
  }
  return c.json(
    { tenantId, received: rows.length, new: added.length, duplicates: rows.length - added.length, schedule: FINDING_CHECK_SCHEDULE_MS.map(isoDuration) },
    202,
  );
}

async function listTenantFindings(c: AppContext, request: DeclaredRequest<undefined, typeof FindingsQuery>): Promise<Response> {
  const { tenantId } = request;
  const { limit, before } = request.query();
  const { db } = await tenantDatabase(c.env, tenantId);
  const page = await listFindings(db, tenantId, limit, before);
  const endpoints = await endpointsOfFiles(db, tenantId, [...new Set(page.map((f) => f.sha256))]);
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return c.json({
    findings: page.map((f) => ({
      id: f.id,
      sha256: f.sha256,
      scanId: f.scanId,
      fileName: f.fileName,
      recipients: f.recipients,
      foundAt: f.foundAt.toISOString(),
      submittedAt: f.submittedAt.toISOString(),
      checks: { done: f.checksDone, scheduled: FINDING_CHECK_SCHEDULE_MS.length, nextCheckAt: iso(f.nextCheckAt), lastCheckedAt: iso(f.lastCheckedAt), lastError: f.lastError },
      endpoints: endpoints
        .filter((e) => e.sha256 === f.sha256)
        .slice(0, MAX_ENDPOINTS_LISTED)
        .map((e) => ({ hostName: e.hostname, path: e.fullPath, ranAsProcess: e.ranAsProcess, foundAt: e.foundAt.toISOString() })),
    })),
    nextBefore: page.length === limit ? (page.at(-1)?.id ?? null) : null,
  });
}

const conflict = { 409: { description: "channel_not_enabled or channel_not_active", schema: ErrorBody } };

/** The routes of this module. */
export const findingRoutes: Route[] = [
  tenantRoute(
    {
      method: "post",
      path: "/v1/tenants/:tenantId/findings",
      summary: `Attachments the host's scanner convicted (at most ${MAX_FINDINGS_PER_CALL}): each is looked for on the tenant's endpoints at Cynet, at once and on a schedule`,
      signed: true,
      body: FindingsRequest,
      bodyName: "The findings",
      responses: { 202: { description: "Taken; the checks are scheduled", schema: FindingsAccepted }, ...SIGNED_ERRORS, ...conflict },
    },
    submitFindings,
  ),
  tenantRoute(
    {
      method: "get",
      path: "/v1/tenants/:tenantId/findings",
      summary: "The host's findings, newest first, each with its check state and the endpoints Cynet has the file on",
      signed: true,
      query: FindingsQuery,
      responses: { 200: { description: "A page of findings", schema: FindingsPage }, ...SIGNED_ERRORS },
    },
    listTenantFindings,
  ),
];
