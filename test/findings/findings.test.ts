/**
 * The host's findings looked for on the endpoints (host contract §2): what the host receives when
 * Cynet has a convicted attachment on endpoints, at once or on a later check; nothing when it
 * never does; nothing twice; and Cynet or the host failing on the way. Time is the injected
 * clock's, moved on by hours and days; nothing sleeps.
 */
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { FINDING_CHECK_SCHEDULE_MS, FINDING_RETRY_BASE_MS } from "../../src/findings/schedule";
import { handleScheduled } from "../../src/sync/scheduled";
import { TestClock } from "../support/clock";
import { callJson, enable, uniqueTenant } from "../support/plugin";
import { CynetWorld } from "../support/standins";
import { capturedEnv, clearHostFaults, connectAndSettle, hostFault, hostRecords, rows, runFindingChecks, settle } from "../support/sync";

const HOUR_MS = 60 * 60_000;
const ATTACHMENT_EVENT = "Malicious Attachment on Endpoint";

type AttachmentEvent = {
  idempotencyKey: string;
  type: string;
  severity: string;
  occurredAt: string;
  title: string;
  details: {
    file: { name: string; sha256: string };
    endpoint: { hostName: string; path: string | null; ranAsProcess: boolean; ownerUser: string | null; runningUser: string | null; createdAt: string | null; lastRunAt: string | null };
    scans: Array<{ scanId: string; fileName: string | null; recipients: string[] }>;
  };
};
type Note = { scanId: string; author: string; text: string };
type FindingView = {
  id: number;
  sha256: string;
  scanId: string;
  checks: { done: number; scheduled: number; nextCheckAt: string | null; lastCheckedAt: string | null; lastError: string | null };
  endpoints: Array<{ hostName: string; path: string | null; ranAsProcess: boolean }>;
};

const randomSha256 = () => [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");

/** A connected tenant whose Cynet has no alerts, with scans at the dev host, and the Worker's queues captured. */
async function findingsTenant(scans: Array<{ scanId: string; fileName: string; sha256: string }>) {
  const world = await new CynetWorld().setup({ alertCount: 0 });
  const tenantId = uniqueTenant("find");
  await connectAndSettle(tenantId, world);
  if (scans.length === 0) return { world, tenantId, clock: new TestClock(), ...capturedEnv() };
  const seeded = await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ scans: scans.map((s) => ({ ...s, scannedAt: new Date(Date.now() - HOUR_MS).toISOString() })) }),
  });
  expect(seeded.status).toBe(200);
  return { world, tenantId, clock: new TestClock(), ...capturedEnv() };
}
type Tenant = Awaited<ReturnType<typeof findingsTenant>>;

/** The host's findings call, signed. */
function submit(t: Tenant, findings: unknown[], extra: Record<string, unknown> = {}) {
  return callJson<Record<string, unknown>>("POST", `/v1/tenants/${t.tenantId}/findings`, { findings, ...extra }, { env: t.env });
}

/** Plays the captured findings messages of the tenant through the consumer, then delivers what they wrote. */
async function runChecks(t: Tenant): Promise<{ messages: number; retried: number }> {
  const messages = await runFindingChecks(t.env, t.findings, t.tenantId, t.clock);
  const retried = await settle(t.env, t.dispatch);
  return { messages, retried };
}

/** Moves the clock to `afterMs` past `submittedAt` (read once the findings call answered, so never before the plugin's), fires the cron there and runs the checks it sent. */
async function cronAt(t: Tenant, submittedAt: number, afterMs: number) {
  t.clock.advanceTo(submittedAt + afterMs);
  await handleScheduled(createScheduledController({ scheduledTime: t.clock.now().getTime(), cron: "*/5 * * * *" }), t.env, createExecutionContext());
  return runChecks(t);
}

async function attachmentEvents(tenantId: string) {
  return (await hostRecords<AttachmentEvent>(tenantId, "events")).filter((e) => e.type === ATTACHMENT_EVENT);
}

async function findingsOf(t: Tenant) {
  const r = await callJson<{ findings: FindingView[]; nextBefore: number | null }>("GET", `/v1/tenants/${t.tenantId}/findings`);
  expect(r.status, r.text).toBe(200);
  return r.body.findings;
}

async function fileLookups(world: CynetWorld) {
  return (await world.state()).counters.file ?? 0;
}

describe("findings → endpoints", () => {
  it("a convicted attachment on two endpoints, one of which ran it: two events, high and critical, and one note naming both", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7001", fileName: "invoice.pdf.exe", sha256 }]);
    await t.world.placeOccurrence(sha256, {
      hostname: "WS-ALICE",
      full_path: "C:\\Users\\alice\\Downloads\\invoice.pdf.exe",
      file_type: "PROCESS",
      creation_time: "2026-11-30T09:15:00Z",
      last_run_time: "2026-11-30T09:16:30Z",
      owner_user: "ACME\\alice",
      running_user: "ACME\\alice",
    });
    await t.world.placeOccurrence(sha256, { hostname: "WS-BOB", full_path: "C:\\Users\\bob\\Downloads\\invoice.pdf.exe", file_type: "FILE", owner_user: "ACME\\bob" });

    const foundAt = new Date(Date.now() - 10 * 60_000).toISOString();
    const r = await submit(t, [{ sha256: sha256.toUpperCase(), scanId: "scan-7001", fileName: "invoice.pdf.exe", recipients: ["alice@acme.example", "bob@acme.example"], foundAt }], {
      actor: { id: "u-42", name: "Mail Scanner" },
    });
    expect(r.status, r.text).toBe(202);
    expect(r.body).toMatchObject({ tenantId: t.tenantId, received: 1, new: 1, duplicates: 0, schedule: ["PT0S", "PT1H", "PT6H", "PT24H", "PT72H"] });
    // Nothing reaches the host before the check runs.
    expect(await attachmentEvents(t.tenantId)).toEqual([]);

    expect((await runChecks(t)).messages).toBe(1);
    const events = await attachmentEvents(t.tenantId);
    expect(events.map((e) => [e.details.endpoint.hostName, e.severity]).sort()).toEqual([
      ["WS-ALICE", "critical"],
      ["WS-BOB", "high"],
    ]);
    const alice = events.find((e) => e.details.endpoint.hostName === "WS-ALICE")!;
    expect(alice.title).toContain("invoice.pdf.exe");
    expect(alice.details.file).toMatchObject({ name: "invoice.pdf.exe", sha256 });
    expect(alice.details.endpoint).toMatchObject({
      path: "C:\\Users\\alice\\Downloads\\invoice.pdf.exe",
      ranAsProcess: true,
      ownerUser: "ACME\\alice",
      runningUser: "ACME\\alice",
      createdAt: "2026-11-30T09:15:00.000Z",
      lastRunAt: "2026-11-30T09:16:30.000Z",
    });
    expect(alice.details.scans).toEqual([{ scanId: "scan-7001", fileName: "invoice.pdf.exe", convictedAt: new Date(foundAt).toISOString(), recipients: ["alice@acme.example", "bob@acme.example"] }]);
    const bob = events.find((e) => e.details.endpoint.hostName === "WS-BOB")!;
    expect(bob.details.endpoint).toMatchObject({ ranAsProcess: false, runningUser: null, lastRunAt: null });

    const notes = await hostRecords<Note>(t.tenantId, "notes");
    expect(notes).toHaveLength(1);
    expect(notes[0]!.scanId).toBe("scan-7001");
    expect(notes[0]!.author).toBe("Cynet");
    expect(notes[0]!.text).toContain("WS-ALICE");
    expect(notes[0]!.text).toContain("WS-BOB");
    expect(notes[0]!.text).toContain("ran as a process");

    const [finding] = await findingsOf(t);
    expect(finding).toMatchObject({ sha256, scanId: "scan-7001", checks: { done: 1, scheduled: FINDING_CHECK_SCHEDULE_MS.length, lastError: null } });
    expect(finding!.endpoints.map((e) => [e.hostName, e.ranAsProcess])).toEqual([
      ["WS-ALICE", true],
      ["WS-BOB", false],
    ]);
    expect(Date.parse(finding!.checks.nextCheckAt!) - Date.parse((finding as unknown as { submittedAt: string }).submittedAt)).toBe(FINDING_CHECK_SCHEDULE_MS[1]);

    const audit = await rows<{ action: string; outcome: string; actor_id: string; detail: string }>("SELECT action, outcome, actor_id, detail FROM audit_log WHERE tenant_id = ? AND action = 'findings_submitted'", t.tenantId);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ outcome: "accepted", actor_id: "u-42" });
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ received: 1, files: 1, scanIds: ["scan-7001"] });
  });

  it("a file that reaches an endpoint only before the 6-hour check: the events and the note come then, and the same finding again adds nothing", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7101", fileName: "payroll.xlsm", sha256 }]);
    const finding = { sha256, scanId: "scan-7101", fileName: "payroll.xlsm", foundAt: new Date().toISOString() };
    expect((await submit(t, [finding])).status).toBe(202);
    const submitted = Date.now();
    await runChecks(t);
    // The 1-hour check: Cynet still has never seen the file.
    expect((await cronAt(t, submitted, FINDING_CHECK_SCHEDULE_MS[1]!)).messages).toBe(1);
    expect(await attachmentEvents(t.tenantId)).toEqual([]);
    expect(await hostRecords(t.tenantId, "notes")).toEqual([]);
    expect(await fileLookups(t.world)).toBe(2);

    // Between the checks nothing is due: a cron tick sends nothing.
    expect((await cronAt(t, submitted, 3 * HOUR_MS)).messages).toBe(0);
    await t.world.placeOccurrence(sha256, { hostname: "LAPTOP-CAROL", full_path: "D:\\mail\\payroll.xlsm", file_type: "FILE", owner_user: "ACME\\carol" });
    expect((await cronAt(t, submitted, FINDING_CHECK_SCHEDULE_MS[2]!)).messages).toBe(1);
    const events = await attachmentEvents(t.tenantId);
    expect(events.map((e) => [e.details.endpoint.hostName, e.severity])).toEqual([["LAPTOP-CAROL", "high"]]);
    // The event is dated when the check found the file, six hours on.
    expect(Date.parse(events[0]!.occurredAt)).toBeGreaterThanOrEqual(submitted + FINDING_CHECK_SCHEDULE_MS[2]!);
    const notes = await hostRecords<Note>(t.tenantId, "notes");
    expect(notes.map((n) => n.scanId)).toEqual(["scan-7101"]);
    expect(notes[0]!.text).toContain("LAPTOP-CAROL");

    // The host sends the same finding again: nothing new, no check message.
    const again = await submit(t, [finding, { ...finding, sha256: sha256.toUpperCase() }]);
    expect(again.status, again.text).toBe(202);
    expect(again.body).toMatchObject({ received: 1, new: 0, duplicates: 1 });
    expect(t.findings.take().filter((m) => m.tenantId === t.tenantId)).toEqual([]);

    // The remaining checks find the same endpoint: no second event, no second note.
    await cronAt(t, submitted, FINDING_CHECK_SCHEDULE_MS[3]!);
    await cronAt(t, submitted, FINDING_CHECK_SCHEDULE_MS[4]!);
    expect(await attachmentEvents(t.tenantId)).toHaveLength(1);
    expect(await hostRecords(t.tenantId, "notes")).toHaveLength(1);
    const [view] = await findingsOf(t);
    expect(view!.checks).toMatchObject({ done: 5, nextCheckAt: null, lastError: null });
  });

  it("a file Cynet never sees: nothing is sent after all the checks, and the checks stop after the last", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7201", fileName: "resume.docm", sha256 }]);
    expect((await submit(t, [{ sha256, scanId: "scan-7201", foundAt: new Date().toISOString() }])).status).toBe(202);
    const submitted = Date.now();
    await runChecks(t);
    for (const at of FINDING_CHECK_SCHEDULE_MS.slice(1)) expect((await cronAt(t, submitted, at)).messages).toBe(1);
    expect(await fileLookups(t.world)).toBe(FINDING_CHECK_SCHEDULE_MS.length);
    // Days later the schedule is over: no more check is sent, Cynet is not asked again.
    expect((await cronAt(t, submitted, 10 * 24 * HOUR_MS)).messages).toBe(0);
    expect(await fileLookups(t.world)).toBe(FINDING_CHECK_SCHEDULE_MS.length);
    expect(await attachmentEvents(t.tenantId)).toEqual([]);
    expect(await hostRecords(t.tenantId, "notes")).toEqual([]);
    const [view] = await findingsOf(t);
    expect(view!.checks).toMatchObject({ done: FINDING_CHECK_SCHEDULE_MS.length, nextCheckAt: null, lastError: null });
    expect(view!.endpoints).toEqual([]);
  });

  it("Cynet failing during a check (503, then 429): the check stays due on its backoff and later delivers each event once", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7301", fileName: "order.zip", sha256 }]);
    await t.world.placeOccurrence(sha256, { hostname: "WS-DAVE", full_path: "C:\\order.zip", file_type: "PROCESS" });
    // Every try of the first check (three, in place) answers 503.
    await t.world.fault({ endpoint: "file", status: 503, times: 3 });
    expect((await submit(t, [{ sha256, scanId: "scan-7301", foundAt: new Date().toISOString() }])).status).toBe(202);
    const submitted = Date.now();
    await runChecks(t);
    expect(await attachmentEvents(t.tenantId)).toEqual([]);
    let [view] = await findingsOf(t);
    expect(view!.checks.done).toBe(0);
    expect(view!.checks.lastError).toMatch(/Cynet answered HTTP 503/);
    expect(Date.parse(view!.checks.nextCheckAt!) - Date.parse(view!.checks.lastCheckedAt!)).toBe(FINDING_RETRY_BASE_MS);

    // The retry meets a 429 whose Retry-After is longer than a wait in place: it waits that long across ticks.
    await t.world.clearFaults();
    await t.world.fault({ endpoint: "file", status: 429, retryAfterSeconds: 1200, times: 1 });
    expect((await cronAt(t, submitted, FINDING_RETRY_BASE_MS + 60_000)).messages).toBe(1);
    [view] = await findingsOf(t);
    expect(view!.checks.done).toBe(0);
    expect(Date.parse(view!.checks.nextCheckAt!) - Date.parse(view!.checks.lastCheckedAt!)).toBe(1200_000);
    // Not before the Retry-After.
    expect((await cronAt(t, submitted, FINDING_RETRY_BASE_MS + 10 * 60_000)).messages).toBe(0);

    await t.world.clearFaults();
    // A minute past the Retry-After (the injected clock also moves with real time while the test runs).
    expect((await cronAt(t, submitted, FINDING_RETRY_BASE_MS + 2 * 60_000 + 1200_000)).messages).toBe(1);
    const events = await attachmentEvents(t.tenantId);
    expect(events.map((e) => [e.details.endpoint.hostName, e.severity])).toEqual([["WS-DAVE", "critical"]]);
    [view] = await findingsOf(t);
    expect(view!.checks).toMatchObject({ done: 1, lastError: null });
    // The rest of the schedule adds nothing.
    for (const at of FINDING_CHECK_SCHEDULE_MS.slice(1)) await cronAt(t, submitted, at + 30 * 60_000);
    expect(await attachmentEvents(t.tenantId)).toHaveLength(1);
    expect(await hostRecords(t.tenantId, "notes")).toHaveLength(1);
  });

  it("a token Cynet stopped taking mid-check: the channel logs in again once and the check succeeds", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7401", fileName: "setup.msi", sha256 }]);
    await t.world.placeOccurrence(sha256, { hostname: "SRV-FILES", full_path: "E:\\share\\setup.msi" });
    await t.world.expireTokens();
    const logins = (await t.world.state()).counters.token!;
    expect((await submit(t, [{ sha256, scanId: "scan-7401", foundAt: new Date().toISOString() }])).status).toBe(202);
    await runChecks(t);
    expect((await t.world.state()).counters.token).toBe(logins + 1);
    expect((await attachmentEvents(t.tenantId)).map((e) => e.details.endpoint.hostName)).toEqual(["SRV-FILES"]);
    const [view] = await findingsOf(t);
    expect(view!.checks).toMatchObject({ done: 1, lastError: null });
  });

  it("Cynet refusing the lookup (403): the finding says so, and the schedule goes on", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7501", fileName: "a.js", sha256 }]);
    await t.world.fault({ endpoint: "file", status: 403, times: 1 });
    expect((await submit(t, [{ sha256, scanId: "scan-7501", foundAt: new Date().toISOString() }])).status).toBe(202);
    await runChecks(t);
    const [view] = await findingsOf(t);
    expect(view!.checks.done).toBe(1);
    expect(view!.checks.lastError).toMatch(/HTTP 403.*permission/);
    expect(view!.checks.nextCheckAt).not.toBeNull();
    // Refused once, not hammered: one lookup.
    expect(await fileLookups(t.world)).toBe(1);
  });

  it("the host failing deliveries: the events and the note arrive later, each exactly once", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7601", fileName: "doc.pdf", sha256 }]);
    await t.world.placeOccurrence(sha256, { hostname: "WS-ERIN", full_path: "C:\\doc.pdf", file_type: "PROCESS" });
    await t.world.placeOccurrence(sha256, { hostname: "WS-FRANK", full_path: "C:\\doc.pdf" });
    await hostFault(t.tenantId, { endpoint: "events/batch", status: 503, times: 2 });
    await hostFault(t.tenantId, { endpoint: "notes", status: 500, times: 1 });
    expect((await submit(t, [{ sha256, scanId: "scan-7601", foundAt: new Date().toISOString() }])).status).toBe(202);
    const { retried } = await runChecks(t);
    expect(retried).toBeGreaterThanOrEqual(2);
    await clearHostFaults(t.tenantId);
    const events = await attachmentEvents(t.tenantId);
    expect(events.map((e) => e.details.endpoint.hostName).sort()).toEqual(["WS-ERIN", "WS-FRANK"]);
    expect(new Set(events.map((e) => e.idempotencyKey)).size).toBe(2);
    expect(await hostRecords(t.tenantId, "notes")).toHaveLength(1);
    const delivered = await rows<{ kind: string; state: string }>("SELECT kind, state FROM outbox WHERE tenant_id = ? ORDER BY id", t.tenantId);
    expect(delivered.filter((r) => r.kind.startsWith("attachment_"))).toEqual([
      { kind: "attachment_events", state: "delivered" },
      { kind: "attachment_note", state: "delivered" },
    ]);
  });

  it("a check message that could not be sent: the next cron tick sends it, and the check runs once", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7901", fileName: "x.iso", sha256 }]);
    await t.world.placeOccurrence(sha256, { hostname: "WS-JOE", full_path: "C:\\x.iso" });
    t.findings.failSends = 1;
    expect((await submit(t, [{ sha256, scanId: "scan-7901", foundAt: new Date().toISOString() }])).body).toMatchObject({ new: 1 });
    expect(t.findings.sent).toEqual([]);
    const submitted = Date.now();
    expect((await cronAt(t, submitted, 60_000)).messages).toBe(1);
    expect((await attachmentEvents(t.tenantId)).map((e) => e.details.endpoint.hostName)).toEqual(["WS-JOE"]);
    // Sent and checked: the next tick sends nothing more.
    expect((await cronAt(t, submitted, 6 * 60_000)).messages).toBe(0);
    expect(await fileLookups(t.world)).toBe(1);
  });

  it("two scans of the same file: one event per endpoint, a note on each scan, and a later endpoint named in a follow-up only", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([
      { scanId: "scan-7701", fileName: "q4.xlsm", sha256 },
      { scanId: "scan-7702", fileName: "q4.xlsm", sha256 },
    ]);
    await t.world.placeOccurrence(sha256, { hostname: "WS-GINA", full_path: "C:\\q4.xlsm" });
    const foundAt = new Date().toISOString();
    const r = await submit(t, [
      { sha256, scanId: "scan-7701", foundAt },
      { sha256, scanId: "scan-7702", foundAt },
    ]);
    const submitted = Date.now();
    expect(r.body).toMatchObject({ received: 2, new: 2 });
    await runChecks(t);
    // One lookup serves both findings of the file.
    expect(await fileLookups(t.world)).toBe(1);
    expect((await attachmentEvents(t.tenantId)).map((e) => [e.details.endpoint.hostName, e.details.scans.map((s) => s.scanId)])).toEqual([["WS-GINA", ["scan-7701", "scan-7702"]]]);
    await t.world.placeOccurrence(sha256, { hostname: "WS-HANK", full_path: "C:\\q4.xlsm", file_type: "PROCESS" });
    await cronAt(t, submitted, FINDING_CHECK_SCHEDULE_MS[1]!);
    expect((await attachmentEvents(t.tenantId)).map((e) => [e.details.endpoint.hostName, e.severity])).toEqual([
      ["WS-GINA", "high"],
      ["WS-HANK", "critical"],
    ]);
    const notes = await hostRecords<Note>(t.tenantId, "notes");
    expect(notes.map((n) => n.scanId).sort()).toEqual(["scan-7701", "scan-7701", "scan-7702", "scan-7702"]);
    const followUps = notes.filter((n) => n.text.includes("now also"));
    expect(followUps).toHaveLength(2);
    for (const n of followUps) {
      expect(n.text).toContain("WS-HANK");
      expect(n.text).not.toContain("WS-GINA");
    }
  });
});

describe("the dev host's scanner", () => {
  it("convicting a scan's file marks the scan and makes the findings call; the plugin takes that body and finds the file", async () => {
    const sha256 = randomSha256();
    const t = await findingsTenant([{ scanId: "scan-7801", fileName: "statement.pdf.exe", sha256 }]);
    await t.world.placeOccurrence(sha256, { hostname: "WS-IVY", full_path: "C:\\statement.pdf.exe", file_type: "PROCESS" });
    const r = await fetch(`https://host.test/__host/tenants/${t.tenantId}/scans/scan-7801/convict`, { method: "POST" });
    expect(r.status).toBe(200);
    const convicted = (await r.json()) as { scan: { convictedAt?: string }; findings: { called: boolean; body: unknown; status: number; answer: { error?: string } } };
    expect(Date.parse(convicted.scan.convictedAt ?? "")).not.toBeNaN();
    expect(convicted.findings.body).toEqual({
      findings: [{ sha256, scanId: "scan-7801", fileName: "statement.pdf.exe", foundAt: convicted.scan.convictedAt }],
      actor: { id: "dev-host-scanner", name: "Dev host attachment scanner" },
    });
    // The tests' dev host has no PLUGIN_URL (it cannot reach the Worker under test): it says so, and the test makes its call.
    expect(convicted.findings).toMatchObject({ called: true, status: 503, answer: { error: "dev_host_not_configured" } });
    const taken = await callJson<Record<string, unknown>>("POST", `/v1/tenants/${t.tenantId}/findings`, convicted.findings.body, { env: t.env });
    expect(taken.status, taken.text).toBe(202);
    expect(taken.body).toMatchObject({ new: 1 });
    await runChecks(t);
    expect((await attachmentEvents(t.tenantId)).map((e) => [e.details.endpoint.hostName, e.severity, e.details.scans[0]?.scanId])).toEqual([["WS-IVY", "critical", "scan-7801"]]);
    const scans = (await (await fetch(`https://host.test/__host/tenants/${t.tenantId}/scans`)).json()) as { scans: Array<{ scanId: string; convictedAt?: string; notes: Note[] }> };
    const scan = scans.scans.find((s) => s.scanId === "scan-7801")!;
    expect(scan.convictedAt).toBe(convicted.scan.convictedAt);
    expect(scan.notes.map((n) => n.author)).toEqual(["Cynet"]);
    // A scan the dev host does not have is a 404 naming it.
    const missing = await fetch(`https://host.test/__host/tenants/${t.tenantId}/scans/scan-none/convict`, { method: "POST" });
    expect(missing.status).toBe(404);
  });
});

describe("POST /v1/tenants/:tenantId/findings refuses bad input", () => {
  const good = () => ({ sha256: randomSha256(), scanId: "scan-1", foundAt: new Date().toISOString() });

  it("answers 400 naming the finding and field that is wrong", async () => {
    const t = await findingsTenant([]);
    const cases: Array<[unknown, string]> = [
      [[good(), good(), good(), { ...good(), sha256: "not-a-hash" }], "findings.3.sha256"],
      [[{ ...good(), foundAt: "yesterday" }], "findings.0.foundAt"],
      [[{ sha256: randomSha256(), foundAt: new Date().toISOString() }], "findings.0.scanId"],
      [[{ ...good(), scanId: "" }], "findings.0.scanId"],
      [[{ ...good(), scanId: "scan\n1" }], "findings.0.scanId"],
      [[{ ...good(), recipients: "alice@acme.example" }], "findings.0.recipients"],
      [[{ ...good(), recipients: [""] }], "findings.0.recipients.0"],
      [[], "findings"],
      [Array.from({ length: 101 }, good), "findings"],
    ];
    for (const [findings, field] of cases) {
      const r = await submit(t, findings as unknown[]);
      expect(r.status, `${field}: ${r.text}`).toBe(400);
      expect(r.body, field).toMatchObject({ error: "invalid_request", field });
      expect(String(r.body.message)).toContain(field);
    }
    const unknownKey = await submit(t, [{ ...good(), color: "red" }]);
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.field).toBe("findings.0");
    const badActor = await submit(t, [good()], { actor: { name: "no id" } });
    expect(badActor.status).toBe(400);
    expect(badActor.body.field).toBe("actor.id");
    // Nothing was taken.
    expect(await rows("SELECT id FROM findings WHERE tenant_id = ?", t.tenantId)).toEqual([]);
    expect(t.findings.take()).toEqual([]);
  });

  it("answers the same 409s as the other routes when the channel is not enabled or not connected", async () => {
    const tenantId = uniqueTenant("find-off");
    const body = { findings: [good()] };
    const notEnabled = await callJson("POST", `/v1/tenants/${tenantId}/findings`, body);
    expect(notEnabled.status).toBe(409);
    expect(notEnabled.body).toMatchObject({ error: "channel_not_enabled" });
    await enable(tenantId);
    const notActive = await callJson("POST", `/v1/tenants/${tenantId}/findings`, body);
    expect(notActive.status).toBe(409);
    expect(notActive.body).toMatchObject({ error: "channel_not_active" });
  });

  it("pages the listing newest first and refuses a bad query", async () => {
    const t = await findingsTenant([]);
    const foundAt = new Date().toISOString();
    const shas = [randomSha256(), randomSha256(), randomSha256()];
    expect((await submit(t, shas.map((sha256, i) => ({ sha256, scanId: `scan-${i}`, foundAt })))).body).toMatchObject({ new: 3 });
    const first = await callJson<{ findings: FindingView[]; nextBefore: number | null }>("GET", `/v1/tenants/${t.tenantId}/findings?limit=2`);
    expect(first.body.findings.map((f) => f.scanId)).toEqual(["scan-2", "scan-1"]);
    const rest = await callJson<{ findings: FindingView[]; nextBefore: number | null }>("GET", `/v1/tenants/${t.tenantId}/findings?limit=2&before=${first.body.nextBefore}`);
    expect(rest.body.findings.map((f) => f.scanId)).toEqual(["scan-0"]);
    expect(rest.body.nextBefore).toBeNull();
    const bad = await callJson("GET", `/v1/tenants/${t.tenantId}/findings?limit=0`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ field: "limit" });
  });
});
