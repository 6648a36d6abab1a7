/**
 * The "Malicious File in Endpoint" event as the host receives it: built when it is sent, it
 * carries the MD5 and SHA-1 correlation learned from Cynet by then, and an event sent before
 * the lookup keeps SHA-256 only (it is sent once and never updated).
 */
import { describe, expect, it } from "vitest";
import type { DispatchMessage } from "../../src/dispatch/messages";
import { uniqueTenant } from "../support/plugin";
import { capturedEnv, connectAndSettle, deliver, drainSync, hostRecords, rows, settle } from "../support/sync";
import { CynetWorld } from "../support/standins";

type EventRecord = {
  idempotencyKey: string;
  severity: string;
  details: { file: { sha256: string; md5: string | null; sha1: string | null }; endpoint: { hostName: string | null }; cynet: { alertId: number } };
};

const FILE_A = "a1".repeat(32);
const FILE_B = "b2".repeat(32);
const alertOf = (sha256: string, host: string) => ({ AlertType: 0, Status: 0, Severity: 4, Sha256: sha256.toUpperCase(), HostName: host, HostIp: "10.2.2.2", Path: `C:\\Users\\x\\${sha256.slice(0, 6)}.exe` });

/** MD5 and SHA-1 as Cynet's /api/full/file gives them for a file it has seen. */
async function hashesAtCynet(world: CynetWorld, sha256: string) {
  const file = await world.fileRecord(sha256);
  expect(file.md5).toMatch(/^[0-9a-fA-F]{32}$/);
  expect(file.sha1).toMatch(/^[0-9a-fA-F]{40}$/);
  return { md5: file.md5.toLowerCase(), sha1: file.sha1.toLowerCase() };
}

/**
 * The captured messages' rows split into messages of events rows and messages of the rest
 * (match rows). The test's env captures both queues in one, so one message may name both kinds.
 */
async function byKind(tenantId: string, messages: DispatchMessage[]) {
  const kinds = new Map((await rows<{ id: number; kind: string }>("SELECT id, kind FROM outbox WHERE tenant_id = ?", tenantId)).map((r) => [r.id, r.kind]));
  const split = (events: boolean) =>
    messages.map((m) => ({ ...m, outboxIds: m.outboxIds.filter((id) => (kinds.get(id) === "events") === events) })).filter((m) => m.outboxIds.length > 0);
  return { events: split(true), others: split(false) };
}

describe("the event's hashes", () => {
  it("carries MD5 and SHA-1 when they were learned before the event was sent, and SHA-256 only when the event went out first", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const tenantId = uniqueTenant("hashes");
    await connectAndSettle(tenantId, world);
    const c = capturedEnv();

    // 1. File A on PC-1: its event is delivered before the correlation asks Cynet for its hashes.
    await world.addAlerts({ alerts: [alertOf(FILE_A, "PC-1")] });
    const a = await hashesAtCynet(world, FILE_A);
    expect(await drainSync(c.env, tenantId)).toContain("completed");
    const first = await byKind(tenantId, c.dispatch.take());
    expect(first.events.length).toBeGreaterThan(0);
    expect((await deliver(c.env, first.events)).result.retryMessages).toEqual([]);
    c.dispatch.sent.push(...first.others);
    expect(await settle(c.env, c.dispatch)).toBe(0);

    // 2. File A again on PC-2 (hashes known since step 1) and new file B on PC-2, whose
    //    correlation runs before the events are delivered.
    await world.addAlerts({ alerts: [alertOf(FILE_A, "PC-2"), alertOf(FILE_B, "PC-2")] });
    const b = await hashesAtCynet(world, FILE_B);
    expect(await drainSync(c.env, tenantId)).toContain("completed");
    const second = await byKind(tenantId, c.dispatch.take());
    expect(second.events.length).toBeGreaterThan(0);
    c.dispatch.sent.push(...second.others);
    expect(await settle(c.env, c.dispatch)).toBe(0);
    expect((await deliver(c.env, second.events)).result.retryMessages).toEqual([]);

    const events = await hostRecords<EventRecord>(tenantId, "events");
    const seen = events.map((e) => ({ sha256: e.details.file.sha256, host: e.details.endpoint.hostName, md5: e.details.file.md5, sha1: e.details.file.sha1 }));
    expect(seen.sort((x, y) => `${x.host}${x.sha256}`.localeCompare(`${y.host}${y.sha256}`))).toEqual([
      // Sent before the lookup, and not sent again once the hashes were known.
      { sha256: FILE_A, host: "PC-1", md5: null, sha1: null },
      { sha256: FILE_A, host: "PC-2", md5: a.md5, sha1: a.sha1 },
      { sha256: FILE_B, host: "PC-2", md5: b.md5, sha1: b.sha1 },
    ]);
    expect(new Set(events.map((e) => e.idempotencyKey)).size).toBe(3);
    expect(events.every((e) => e.severity === "high")).toBe(true);
  });
});
