/**
 * One severity story (docs/operations.md, Severity): every event is high, Cynet's own rating is
 * stated beside it in the same words in the event, the note and the IR request, and the IR
 * request's priority is high, or critical when Cynet rates the file Critical.
 */
import { describe, expect, it } from "vitest";
import { CYNET_SEVERITY } from "../../src/cynet/labels";
import { fileSeverity } from "../../src/dispatch/severity";
import { uniqueTenant } from "../support/plugin";
import { capturedEnv, connectAndSettle, drainSync, hostRecords, settle } from "../support/sync";
import { CynetWorld } from "../support/standins";

type EventRecord = { severity: string; details: { severity: string; file: { sha256: string }; endpoint: { hostName: string }; cynet: { severity: string } } };
type IrRecord = { scanId: string; priority: string; description: string; evidence: { severity: string; cynet: { severity: string } } };
type NoteRecord = { scanId: string; text: string };

const CRITICAL_FILE = "c3".repeat(32);
const MEDIUM_FILE = "d4".repeat(32);
const alertOf = (sha256: string, host: string, severity: number, minutesAgo: number) => ({
  AlertType: 0,
  Status: 0,
  Severity: severity,
  Sha256: sha256,
  HostName: host,
  HostIp: "10.3.3.3",
  Path: `C:\\Users\\x\\${sha256.slice(0, 6)}.exe`,
  DateIn: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
});

describe("fileSeverity", () => {
  it("rates the event high whatever Cynet says, states Cynet's worst rating beside it, and raises the IR priority only for Critical", () => {
    const { Information, Low, Medium, High, Critical, Unknown } = CYNET_SEVERITY;
    expect(fileSeverity([Information])).toEqual({ cynet: "Information", event: "high", priority: "high", text: "Cynet severity: Information; event severity: high" });
    expect(fileSeverity([Information, Critical, Low])).toEqual({ cynet: "Critical", event: "high", priority: "critical", text: "Cynet severity: Critical; event severity: high" });
    expect(fileSeverity([Medium, High])).toMatchObject({ cynet: "High", priority: "high" });
    expect(fileSeverity([null, Unknown])).toEqual({ cynet: "Unknown", event: "high", priority: "high", text: "Cynet severity: Unknown; event severity: high" });
    expect(fileSeverity([])).toMatchObject({ cynet: "Unknown", priority: "high" });
  });
});

describe("what the host shows about one file's severity", () => {
  it("says it the same way in the events, the note and the IR request", async () => {
    const world = await new CynetWorld().setup({ alertCount: 0 });
    const tenantId = uniqueTenant("sev");
    await connectAndSettle(tenantId, world);
    const c = capturedEnv();
    const scans = [
      { scanId: "scan-crit", fileName: "crit.exe", scannedAt: "2026-11-20T10:00:00Z", sha256: CRITICAL_FILE },
      { scanId: "scan-med", fileName: "med.exe", scannedAt: "2026-11-20T11:00:00Z", sha256: MEDIUM_FILE },
    ];
    const seeded = await fetch(`https://host.test/__host/tenants/${tenantId}/scans`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ scans }) });
    expect(seeded.ok).toBe(true);
    // The critical file first on an endpoint where Cynet rated it Information, then where it rated it Critical.
    await world.addAlerts({
      alerts: [alertOf(CRITICAL_FILE, "PC-INFO", CYNET_SEVERITY.Information, 30), alertOf(CRITICAL_FILE, "PC-CRIT", CYNET_SEVERITY.Critical, 10), alertOf(MEDIUM_FILE, "PC-MED", CYNET_SEVERITY.Medium, 20)],
    });
    expect(await drainSync(c.env, tenantId)).toContain("completed");
    expect(await settle(c.env, c.dispatch)).toBe(0);

    const events = await hostRecords<EventRecord>(tenantId, "events");
    const eventOn = (host: string) => events.find((e) => e.details.endpoint.hostName === host)!;
    expect(events.map((e) => e.severity)).toEqual(["high", "high", "high"]);
    expect(eventOn("PC-INFO").details).toMatchObject({ severity: "Cynet severity: Information; event severity: high", cynet: { severity: "Information" } });
    expect(eventOn("PC-CRIT").details).toMatchObject({ severity: "Cynet severity: Critical; event severity: high", cynet: { severity: "Critical" } });
    expect(eventOn("PC-MED").details.severity).toBe("Cynet severity: Medium; event severity: high");

    const ir = await hostRecords<IrRecord>(tenantId, "ir-requests");
    const notes = await hostRecords<NoteRecord>(tenantId, "notes");
    const expected = [
      { scanId: "scan-crit", text: "Cynet severity: Critical; event severity: high", cynet: "Critical", priority: "critical" },
      { scanId: "scan-med", text: "Cynet severity: Medium; event severity: high", cynet: "Medium", priority: "high" },
    ];
    expect(ir.map((r) => r.scanId).sort()).toEqual(expected.map((e) => e.scanId));
    expect(notes.map((n) => n.scanId).sort()).toEqual(expected.map((e) => e.scanId));
    for (const want of expected) {
      const request = ir.find((r) => r.scanId === want.scanId)!;
      expect(request.priority).toBe(want.priority);
      expect(request.description).toContain(`\n${want.text}.\n`);
      expect(request.evidence).toMatchObject({ severity: want.text, cynet: { severity: want.cynet } });
      const note = notes.find((n) => n.scanId === want.scanId)!;
      expect(note.text).toContain(` ${want.text}. An IR request, priority ${want.priority}, was opened for this scan.`);
      // No other severity wording anywhere the analyst reads.
      for (const text of [request.description, note.text]) expect(text.match(/severity/gi)?.length).toBe(2);
    }
  });
});
