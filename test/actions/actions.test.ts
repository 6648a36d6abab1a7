/**
 * Response actions end to end in workerd: the host's request, the checks on its hosts, the
 * actions queue played on an injected clock against the Cynet simulator, the remediation items
 * polled to final, the note on the scan at the dev host, and the audit rows.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { ACTION_SWEEP_GRACE_MS, REMEDIATION_POLL_INTERVAL_SECONDS, REMEDIATION_STABLE_POLLS, SEND_CLAIM_MS } from "../../src/actions/consumer";
import { handleScheduled } from "../../src/sync/scheduled";
import { ACTION_SEND_MAX_ATTEMPTS, ISOLATION_UNSUPPORTED_MESSAGE, PERMISSION_MESSAGE } from "../../src/actions/outcomes";
import { MAX_HOSTS_PER_ACTION } from "../../src/actions/routes";
import type { Env } from "../../src/env";
import { actionsEnv, deliverAction, playActions, readAction, requestAction } from "../support/actions";
import { callJson, uniqueTenant } from "../support/plugin";
import { CynetWorld, type WorldSetup } from "../support/standins";
import { connectAndSettle, hostRecords, rows, settle } from "../support/sync";

const FILE = "ab".repeat(32);
const OTHER_FILE = "cd".repeat(32);
const ANALYST = { id: "u-1842", name: "Dana Analyst" };

/** A connected tenant whose Cynet reported FILE on WS-ALPHA and WS-BRAVO (and OTHER_FILE on WS-CHARLIE), and a scan of FILE at the host. */
async function tenantWithFileOnTwoHosts(setup: WorldSetup = {}) {
  const world = await new CynetWorld().setup({ alertCount: 0, ...setup });
  await world.addAlerts({
    alerts: [
      { AlertType: 0, Status: 0, Severity: 4, Sha256: FILE.toUpperCase(), HostName: "WS-ALPHA", HostIp: "10.0.0.1", Path: "C:\\Users\\a\\invoice.pdf.exe" },
      { AlertType: 0, Status: 0, Severity: 4, Sha256: FILE, HostName: "WS-BRAVO", HostIp: "10.0.0.2", Path: "C:\\Users\\b\\invoice.pdf.exe" },
      { AlertType: 0, Status: 0, Severity: 3, Sha256: OTHER_FILE, HostName: "WS-CHARLIE", HostIp: "10.0.0.3", Path: "C:\\tmp\\x.exe" },
    ],
  });
  const tenantId = uniqueTenant("act");
  const seeded = await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ scans: [{ scanId: "scan-77", fileName: "invoice.pdf.exe", scannedAt: "2026-11-20T10:00:00Z", sha256: FILE }] }),
  });
  expect(seeded.ok).toBe(true);
  await connectAndSettle(tenantId, world);
  return { world, tenantId, ...actionsEnv() };
}

type Audit = { action: string; outcome: string; actor_id: string | null; actor_name: string | null; subject: string | null; detail: string };
const auditRows = (tenantId: string) => rows<Audit>("SELECT action, outcome, actor_id, actor_name, subject, detail FROM audit_log WHERE tenant_id = ? AND action LIKE 'action_%' ORDER BY id", tenantId);

describe("response actions", () => {
  it("quarantines a file on two hosts: one request each, items polled to final, a note on the scan, audit rows", async () => {
    const t = await tenantWithFileOnTwoHosts();
    // The IR request the scan match opened offers the actions for its file and endpoints.
    const [ir] = await hostRecords<{ scanId: string; description: string; evidence: { actions: { file: string[]; host: string[]; hosts: string[]; sha256: string } } }>(t.tenantId, "ir-requests");
    expect(ir!.scanId).toBe("scan-77");
    expect(ir!.evidence.actions).toEqual({ file: ["quarantine_file", "kill_process", "delete_file", "unquarantine_file", "verify_file"], host: ["isolate_host", "release_host"], hosts: expect.arrayContaining(["WS-ALPHA", "WS-BRAVO"]), sha256: FILE });
    expect(ir!.description).toMatch(/Cynet response actions available for this file on WS-(ALPHA|BRAVO), WS-(ALPHA|BRAVO): quarantine file, kill process/);
    const asked = await requestAction(t.env, t.tenantId, { action: "quarantine_file", sha256: FILE.toUpperCase(), hosts: ["ws-alpha", "WS-BRAVO"], scanId: "scan-77", irRequestId: "ir-5", reason: "Convicted attachment", actor: ANALYST });
    expect(asked.status, asked.text).toBe(202);
    const id = asked.body.id as string;
    expect(asked.body).toMatchObject({ action: "quarantine_file", state: "queued", sha256: FILE, hosts: ["WS-ALPHA", "WS-BRAVO"], requestedBy: { id: ANALYST.id, name: ANALYST.name } });

    const steps = await playActions(t);
    const { calls, items } = await t.world.remediation();
    // One request per host, spelled as Cynet spells the host, never "everywhere".
    expect(calls.map((c) => [c.action, c.host, c.sha256, c.answered])).toEqual([
      ["quarantine", "WS-ALPHA", FILE, 200],
      ["quarantine", "WS-BRAVO", FILE, 200],
    ]);
    // Each item polled until its status held REMEDIATION_STABLE_POLLS times: "In progress" once, then final.
    expect(items.map((i) => i.polls)).toEqual([1 + REMEDIATION_STABLE_POLLS, 1 + REMEDIATION_STABLE_POLLS]);
    expect(steps).toBe(2 + REMEDIATION_STABLE_POLLS);

    const view = await readAction(t.tenantId, id);
    expect(view.state).toBe("done");
    expect(view.results.map((r) => [r.host, r.state, r.remediationItems.map((i) => [i.id, i.statusInfo, i.final])])).toEqual([
      ["WS-ALPHA", "sent", [[calls[0]!.items[0], "File quarantined", true]]],
      ["WS-BRAVO", "sent", [[calls[1]!.items[0], "File quarantined", true]]],
    ]);

    // The outcome goes to the scan, once, through the outbox.
    expect(await settle(t.env, t.dispatch)).toBe(0);
    const notes = (await hostRecords<{ scanId: string; text: string }>(t.tenantId, "notes")).filter((n) => n.text.startsWith("Cynet response action"));
    expect(notes).toHaveLength(1);
    expect(notes[0]!.scanId).toBe("scan-77");
    expect(notes[0]!.text).toContain("Quarantine file");
    expect(notes[0]!.text).toContain("Dana Analyst");
    expect(notes[0]!.text).toContain(`WS-ALPHA: File quarantined (Cynet remediation item ${calls[0]!.items[0]})`);
    expect(notes[0]!.text).toContain("WS-BRAVO: File quarantined");
    expect(notes[0]!.text).toContain("Reason given: Convicted attachment");

    const audit = await auditRows(t.tenantId);
    expect(audit.map((a) => [a.action, a.outcome, a.actor_id, a.actor_name])).toEqual([
      ["action_requested", "accepted", ANALYST.id, ANALYST.name],
      ["action_finished", "succeeded", ANALYST.id, ANALYST.name],
    ]);
    expect(audit[0]!.subject).toContain(id);

    // Listed newest first.
    const list = await callJson<{ actions: Array<{ id: string; state: string }> }>("GET", `/v1/tenants/${t.tenantId}/actions`);
    expect(list.body.actions.map((a) => [a.id, a.state])).toEqual([[id, "done"]]);
  });

  it("never calls Cynet twice for a request: a duplicated message, and a crash between Cynet's answer and its record", async () => {
    const t = await tenantWithFileOnTwoHosts();
    const asked = await requestAction(t.env, t.tenantId, { action: "delete_file", sha256: FILE, hosts: ["WS-ALPHA", "WS-BRAVO"], actor: ANALYST });
    expect(asked.status, asked.text).toBe(202);
    const first = t.actions.next()!;

    // The invocation is cut off after Cynet answered and before the answer is stored (D1 fails the record).
    const crashing = { ...t.env, DB: failingPrepare(t.env.DB, /insert into "remediation_items"/i) } as Env;
    const crashed = await deliverAction(crashing, first.body, t.clock);
    expect(crashed.acked).toBe(false);
    expect((await t.world.remediation()).calls.map((c) => c.host)).toEqual(["WS-ALPHA"]);

    // The queue retries the message (and delivers a duplicate): neither asks Cynet again for WS-ALPHA.
    expect((await deliverAction(t.env, first.body, t.clock, 2)).acked).toBe(true);
    expect((await deliverAction(t.env, first.body, t.clock, 3)).acked).toBe(true);
    t.clock.advance(SEND_CLAIM_MS);
    await playActions(t);
    const calls = (await t.world.remediation()).calls;
    expect(calls.map((c) => c.host).sort()).toEqual(["WS-ALPHA", "WS-BRAVO"]);

    const view = await readAction(t.tenantId, asked.body.id as string);
    const alpha = view.results.find((r) => r.host === "WS-ALPHA")!;
    expect(alpha.state).toBe("unknown");
    expect(alpha.error?.message).toMatch(/whether Cynet acted is not known.*Check this host in Cynet's console/);
    expect(view.results.find((r) => r.host === "WS-BRAVO")!.state).toBe("sent");
    expect(view.state).toBe("failed");
  });

  it("refuses a host Cynet never saw with the file, naming it; asks Cynet's file record before refusing", async () => {
    const t = await tenantWithFileOnTwoHosts();
    const before = (await t.world.state()).counters.file ?? 0;
    const r = await requestAction(t.env, t.tenantId, { action: "quarantine_file", sha256: FILE, hosts: ["WS-ALPHA", "WS-CHARLIE"], actor: ANALYST });
    expect(r.status, r.text).toBe(400);
    expect(r.body).toMatchObject({ error: "unknown_host", field: "hosts.1" });
    expect(r.body.message).toContain('"WS-CHARLIE"');
    expect((await t.world.state()).counters.file).toBe(before + 1);
    // Host actions: a host no detection names.
    const h = await requestAction(t.env, t.tenantId, { action: "isolate_host", hosts: ["WS-BRAVO", "LAPTOP-NOBODY"], actor: ANALYST });
    expect(h.status, h.text).toBe(400);
    expect(h.body).toMatchObject({ error: "unknown_host", field: "hosts.1" });
    expect(h.body.message).toContain('"LAPTOP-NOBODY"');
    expect(t.actions.sent).toEqual([]);
    expect((await t.world.remediation()).calls).toEqual([]);
    const audit = await auditRows(t.tenantId);
    expect(audit.map((a) => [a.action, a.outcome])).toEqual([["action_requested", "refused"], ["action_requested", "refused"]]);
  });

  it("accepts a host that only Cynet's file record shows the file on (not synced yet), as Cynet spells it", async () => {
    const t = await tenantWithFileOnTwoHosts();
    // Cynet saw the file on a third endpoint after the last sync: no detection names it yet.
    await t.world.addAlerts({ alerts: [{ AlertType: 0, Status: 0, Sha256: FILE, HostName: "LAPTOP-Delta", HostIp: "10.0.0.4", Path: "C:\\x.exe" }] });
    expect(await rows("SELECT 1 FROM detections WHERE tenant_id = ? AND host_name = 'LAPTOP-Delta'", t.tenantId)).toEqual([]);
    const r = await requestAction(t.env, t.tenantId, { action: "verify_file", sha256: FILE, hosts: ["laptop-delta", "WS-ALPHA"], actor: ANALYST });
    expect(r.status, r.text).toBe(202);
    expect(r.body.hosts).toEqual(["LAPTOP-Delta", "WS-ALPHA"]);
    await playActions(t);
    expect((await t.world.remediation()).calls.map((c) => c.host)).toEqual(["LAPTOP-Delta", "WS-ALPHA"]);
  });

  it("refuses what is not one action on named hosts: unknown action, missing or extra sha256, no hosts, everywhere, too many, twice", async () => {
    const t = await tenantWithFileOnTwoHosts();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ action: "format_disk", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST }, "action"],
      [{ action: "quarantine_file", hosts: ["WS-ALPHA"], actor: ANALYST }, "sha256"],
      [{ action: "isolate_host", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST }, "sha256"],
      [{ action: "quarantine_file", sha256: FILE, hosts: [], actor: ANALYST }, "hosts"],
      [{ action: "quarantine_file", sha256: FILE, hosts: ["*"], actor: ANALYST }, "hosts.0"],
      [{ action: "quarantine_file", sha256: FILE, hosts: ["WS-ALPHA", "everywhere"], actor: ANALYST }, "hosts.1"],
      [{ action: "quarantine_file", sha256: FILE, hosts: [null], actor: ANALYST }, "hosts.0"],
      [{ action: "quarantine_file", sha256: FILE, hosts: ["WS-ALPHA", "ws-alpha"], actor: ANALYST }, "hosts.1"],
      [{ action: "quarantine_file", sha256: FILE, hosts: Array.from({ length: MAX_HOSTS_PER_ACTION + 1 }, (_, i) => `H${i}`), actor: ANALYST }, "hosts"],
      [{ action: "quarantine_file", sha256: FILE, hosts: ["WS-ALPHA"] }, "actor"],
    ];
    for (const [body, field] of cases) {
      const r = await requestAction(t.env, t.tenantId, body);
      expect(r.status, `${JSON.stringify(body).slice(0, 120)} → ${r.text}`).toBe(400);
      expect(r.body.field).toBe(field);
    }
    expect(t.actions.sent).toEqual([]);
  });

  it("answers a repeated Idempotency-Key with the action it made, and refuses the key with another request", async () => {
    const t = await tenantWithFileOnTwoHosts();
    const body = { action: "verify_file", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST };
    const first = await requestAction(t.env, t.tenantId, body, { "idempotency-key": "req-1" });
    const again = await requestAction(t.env, t.tenantId, body, { "idempotency-key": "req-1" });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const other = await requestAction(t.env, t.tenantId, { ...body, hosts: ["WS-BRAVO"] }, { "idempotency-key": "req-1" });
    expect(other.status, other.text).toBe(422);
    expect(other.body.error).toBe("idempotency_key_reused");
    expect(await rows("SELECT id FROM actions WHERE tenant_id = ?", t.tenantId)).toHaveLength(1);
    await playActions(t);
    expect((await t.world.remediation()).calls).toHaveLength(1);
  });

  it("a Cynet user without remediation rights (403): the admin's message, no retry, no other host asked", async () => {
    const t = await tenantWithFileOnTwoHosts({ remediationPermission: false });
    const r = await requestAction(t.env, t.tenantId, { action: "kill_process", sha256: FILE, hosts: ["WS-ALPHA", "WS-BRAVO"], actor: ANALYST });
    expect(r.status, r.text).toBe(202);
    await playActions(t);
    expect((await t.world.remediation()).calls.map((c) => [c.host, c.answered])).toEqual([["WS-ALPHA", 403]]);
    const view = await readAction(t.tenantId, r.body.id as string);
    expect(view.state).toBe("failed");
    for (const host of view.results) {
      expect(host.state).toBe("failed");
      expect(host.error).toEqual({ code: "remediation_not_permitted", message: PERMISSION_MESSAGE });
    }
    expect(PERMISSION_MESSAGE).toMatch(/lacks remediation permission \(Operator role with remediation rights\)/);
    expect((await auditRows(t.tenantId)).map((a) => [a.action, a.outcome])).toEqual([["action_requested", "accepted"], ["action_finished", "failed"]]);
  });

  it("an on-premise Cynet (404 on isolation): host isolation not supported, no retry", async () => {
    const t = await tenantWithFileOnTwoHosts({ onPremise: true });
    const r = await requestAction(t.env, t.tenantId, { action: "isolate_host", hosts: ["WS-BRAVO", "WS-CHARLIE"], actor: ANALYST });
    expect(r.status, r.text).toBe(202);
    await playActions(t);
    expect((await t.world.remediation()).calls.map((c) => [c.action, c.host, c.answered])).toEqual([["isolate", "WS-BRAVO", 404]]);
    const view = await readAction(t.tenantId, r.body.id as string);
    expect(view.results.map((h) => [h.host, h.state, h.error?.message])).toEqual([
      ["WS-BRAVO", "failed", ISOLATION_UNSUPPORTED_MESSAGE],
      ["WS-CHARLIE", "failed", ISOLATION_UNSUPPORTED_MESSAGE],
    ]);
    expect(ISOLATION_UNSUPPORTED_MESSAGE).toMatch(/does not support host isolation/);
  });

  it("acts on a host Cynet reported only for one of the host's convicted attachments (a finding), as Cynet spells it", async () => {
    const t = await tenantWithFileOnTwoHosts();
    // Cynet found a convicted attachment on WS-DELTA (findings → endpoints); no detection names it.
    await env.DB.prepare("INSERT INTO finding_endpoints (tenant_id, sha256, hostname, ran_as_process, found_at, found_by) VALUES (?, ?, 'WS-DELTA', 1, ?, 'test')")
      .bind(t.tenantId, OTHER_FILE, Date.now())
      .run();
    const r = await requestAction(t.env, t.tenantId, { action: "isolate_host", hosts: ["ws-delta"], actor: ANALYST });
    expect(r.status, r.text).toBe(202);
    await playActions(t);
    expect((await t.world.remediation()).calls.map((c) => [c.action, c.host])).toEqual([["isolate", "WS-DELTA"]]);
    const unknown = await requestAction(t.env, t.tenantId, { action: "isolate_host", hosts: ["WS-ECHO"], actor: ANALYST });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: "unknown_host", field: "hosts.0" });
  });

  it("Cynet answering 503 then 200: asked again later with backoff, one successful call per host, and 503 forever ends failed", async () => {
    const t = await tenantWithFileOnTwoHosts();
    await t.world.fault({ endpoint: "remediation", status: 503, times: 2 });
    const r = await requestAction(t.env, t.tenantId, { action: "quarantine_file", sha256: FILE, hosts: ["WS-ALPHA", "WS-BRAVO"], actor: ANALYST });
    const started = t.clock.now().getTime();
    await playActions(t);
    const calls = (await t.world.remediation()).calls;
    expect(calls.map((c) => [c.host, c.answered])).toEqual([
      ["WS-ALPHA", 503],
      ["WS-BRAVO", 503],
      ["WS-ALPHA", 200],
      ["WS-BRAVO", 200],
    ]);
    const view = await readAction(t.tenantId, r.body.id as string);
    expect(view.state).toBe("done");
    expect(view.results.map((h) => h.attempts)).toEqual([2, 2]);
    expect(t.clock.now().getTime() - started).toBeGreaterThanOrEqual(30_000 + REMEDIATION_STABLE_POLLS * REMEDIATION_POLL_INTERVAL_SECONDS * 1000);

    await t.world.clearFaults();
    await t.world.fault({ endpoint: "remediation", status: 503 });
    const stuck = await requestAction(t.env, t.tenantId, { action: "verify_file", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST });
    await playActions(t);
    const tries = (await t.world.remediation()).calls.filter((c) => c.action === "verify");
    expect(tries).toHaveLength(ACTION_SEND_MAX_ATTEMPTS);
    const failed = await readAction(t.tenantId, stuck.body.id as string);
    expect(failed.results[0]).toMatchObject({ state: "failed", error: { code: "cynet_unavailable" } });
    expect(failed.results[0]!.error!.message).toContain(`all ${ACTION_SEND_MAX_ATTEMPTS} tries`);
  });

  it("shows Cynet's own words for items that fail, and follows a slow one (pending for long) until it settles", async () => {
    const t = await tenantWithFileOnTwoHosts({ slowRemediationHosts: ["WS-BRAVO"] });
    const restore = await requestAction(t.env, t.tenantId, { action: "unquarantine_file", sha256: OTHER_FILE, hosts: ["WS-CHARLIE"], actor: ANALYST });
    expect(restore.status, restore.text).toBe(202);
    const slow = await requestAction(t.env, t.tenantId, { action: "quarantine_file", sha256: FILE, hosts: ["WS-BRAVO"], actor: ANALYST });
    await playActions(t);
    const item = (await readAction(t.tenantId, slow.body.id as string)).results[0]!.remediationItems[0]!;
    // "Pending" held for more polls than the stable count, and was not taken as final.
    expect(item).toMatchObject({ statusInfo: "File quarantined", final: true });
    expect(item.polls).toBeGreaterThan(2 * 4);
    expect((await readAction(t.tenantId, restore.body.id as string)).results[0]!.remediationItems[0]).toMatchObject({ statusInfo: "File is not in quarantine", final: true });
    // Quarantined already: Cynet's words for a second quarantine.
    const again = await requestAction(t.env, t.tenantId, { action: "quarantine_file", sha256: FILE, hosts: ["WS-BRAVO"], actor: ANALYST });
    await playActions(t);
    expect((await readAction(t.tenantId, again.body.id as string)).results[0]!.remediationItems[0]).toMatchObject({ status: 24, statusInfo: "File does not exist", final: true });
  });

  it("logs in again once when Cynet answers 401 (token expired), and the request is made once", async () => {
    const t = await tenantWithFileOnTwoHosts();
    const r = await requestAction(t.env, t.tenantId, { action: "verify_file", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST });
    const logins = (await t.world.state()).counters.token ?? 0;
    await t.world.expireTokens();
    await playActions(t);
    expect((await t.world.remediation()).calls.map((c) => c.answered)).toEqual([401, 200]);
    expect((await t.world.state()).counters.token).toBe(logins + 1);
    expect((await readAction(t.tenantId, r.body.id as string)).state).toBe("done");
  });

  it("sends a lost step again from the cron once it is overdue, and the action then runs", async () => {
    const t = await tenantWithFileOnTwoHosts();
    const r = await requestAction(t.env, t.tenantId, { action: "verify_file", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST });
    // The message is lost (never delivered).
    expect(t.actions.next()?.body.step).toBe(0);
    await handleScheduled(createScheduledController({ scheduledTime: Date.now() + ACTION_SWEEP_GRACE_MS - 60_000, cron: "*/5 * * * *" }), t.env, createExecutionContext());
    expect(t.actions.sent).toEqual([]);
    await handleScheduled(createScheduledController({ scheduledTime: Date.now() + ACTION_SWEEP_GRACE_MS + 60_000, cron: "*/5 * * * *" }), t.env, createExecutionContext());
    expect(t.actions.sent.map((m) => m.body)).toEqual([{ kind: "action", tenantId: t.tenantId, actionId: r.body.id, step: 0 }]);
    await playActions(t);
    expect((await readAction(t.tenantId, r.body.id as string)).state).toBe("done");
    expect((await t.world.remediation()).calls).toHaveLength(1);
  });

  it("is refused while the channel is not active, and answers 404 for an action of another tenant", async () => {
    const t = await tenantWithFileOnTwoHosts();
    const r = await requestAction(t.env, t.tenantId, { action: "verify_file", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST });
    const otherTenant = uniqueTenant("act-other");
    expect((await callJson("GET", `/v1/tenants/${otherTenant}/actions/${r.body.id as string}`)).status).toBe(404);
    expect((await callJson("DELETE", `/v1/tenants/${t.tenantId}/activation`)).status).toBe(200);
    const refused = await requestAction(t.env, t.tenantId, { action: "verify_file", sha256: FILE, hosts: ["WS-ALPHA"], actor: ANALYST });
    expect(refused.status).toBe(409);
    // The queued one is not sent once the channel stopped.
    await playActions(t);
    expect((await t.world.remediation()).calls).toEqual([]);
    expect((await readAction(t.tenantId, r.body.id as string)).results[0]).toMatchObject({ state: "failed", error: { code: "channel_stopped" } });
  });
});

/** A D1 binding whose statements matching `pattern` fail to prepare: an invocation cut off before that write. */
function failingPrepare(d1: D1Database, pattern: RegExp): D1Database {
  return new Proxy(d1, {
    get(target, prop, receiver) {
      if (prop === "prepare") {
        return (query: string) => {
          if (pattern.test(query)) throw new Error("D1 write failed (injected)");
          return target.prepare(query);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
