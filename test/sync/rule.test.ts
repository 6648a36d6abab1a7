import { describe, expect, it } from "vitest";
import { classifyAlert, MAX_ALERT_TEXT_LENGTH } from "../../src/sync/rule";

const now = new Date("2026-06-01T00:00:00Z");
const H = "ab".repeat(32);
const PARENT = "cd".repeat(32);

describe("the malicious file rule, one test per clause", () => {
  it("takes a file alert (AlertType 0) with a valid SHA-256 and lower-cases it", () => {
    const r = classifyAlert({ ClientDbId: 1, AlertType: 0, Sha256: H.toUpperCase(), Status: 0 }, now);
    expect(r).toMatchObject({ kind: "detection", detection: { alertId: 1, sha256: H } });
  });

  it("takes the real fixture shape: no AlertType, no Status, Sha256Hex upper case; never the parent's hash from the description", () => {
    const description = JSON.stringify({ "Extra Info": { Sha256: PARENT, "Infected file SHA256": H.toUpperCase() } });
    const r = classifyAlert({ ClientDbId: 2, Sha256Hex: H.toUpperCase(), DateIn: "2026-05-29T13:26:24+00:00", IncidentJsonDescription: description }, now);
    expect(r).toMatchObject({ kind: "detection", detection: { sha256: H, cynetStatus: null } });
    if (r.kind === "detection") expect(r.detection.detectedAt.toISOString()).toBe("2026-05-29T13:26:24.000Z");
  });

  it("takes the hash from File.Sha256 when the top level has none", () => {
    expect(classifyAlert({ ClientDbId: 3, AlertType: 0, File: { Sha256: H, CommonFileName: "evil.exe" } }, now)).toMatchObject({
      kind: "detection",
      detection: { sha256: H, fileName: "evil.exe" },
    });
  });

  it("skips domain, IP and URL alerts", () => {
    for (const t of [1, 2, 3]) expect(classifyAlert({ ClientDbId: 4, AlertType: t, Sha256: H }, now)).toEqual({ kind: "skipped", reason: "not_file_alert" });
  });

  it("skips an alert with no AlertType and no file hash", () => {
    expect(classifyAlert({ ClientDbId: 5, HostName: "pc" }, now)).toEqual({ kind: "skipped", reason: "not_file_alert" });
  });

  it("skips a file alert with no hash", () => {
    expect(classifyAlert({ ClientDbId: 6, AlertType: 0 }, now)).toEqual({ kind: "skipped", reason: "missing_hash" });
  });

  it("skips an invalid SHA-256 (wrong length, not hex)", () => {
    expect(classifyAlert({ ClientDbId: 7, AlertType: 0, Sha256: "abc" }, now)).toEqual({ kind: "skipped", reason: "invalid_hash" });
    expect(classifyAlert({ ClientDbId: 8, AlertType: 0, Sha256: "z".repeat(64) }, now)).toEqual({ kind: "skipped", reason: "invalid_hash" });
  });

  it("skips Ignored alerts (Status 2) but keeps Open, Pending, Closed and missing status", () => {
    expect(classifyAlert({ ClientDbId: 9, AlertType: 0, Sha256: H, Status: 2 }, now)).toEqual({ kind: "skipped", reason: "ignored" });
    for (const Status of [0, 1, 3, undefined, null]) expect(classifyAlert({ ClientDbId: 10, AlertType: 0, Sha256: H, Status }, now).kind).toBe("detection");
  });

  it("skips what has no ClientDbId, and what is not an object", () => {
    expect(classifyAlert({ AlertType: 0, Sha256: H }, now)).toEqual({ kind: "skipped", reason: "missing_id" });
    expect(classifyAlert("alert", now)).toEqual({ kind: "skipped", reason: "malformed" });
    expect(classifyAlert(null, now)).toEqual({ kind: "skipped", reason: "malformed" });
  });

  it("reads fields of the wrong type as missing instead of dropping the alert", () => {
    const r = classifyAlert({ ClientDbId: 11, AlertType: 0, Sha256: H, HostName: 42, Severity: "high", Path: "C:\\Temp\\x.exe" }, now);
    expect(r).toMatchObject({ kind: "detection", detection: { hostName: null, cynetSeverity: null, fileName: "x.exe" } });
  });

  it("keeps at most MAX_ALERT_TEXT_LENGTH characters of a text field, and takes the file name from the whole path", () => {
    const long = `C:\\${"d\\".repeat(2000)}payload.exe`;
    const r = classifyAlert({ ClientDbId: 13, AlertType: 0, Sha256: H, Path: long, HostName: ` ${"h".repeat(5000)} `, IncidentName: "i".repeat(MAX_ALERT_TEXT_LENGTH) }, now);
    if (r.kind !== "detection") throw new Error("expected a detection");
    expect(r.detection.path).toBe(long.slice(0, MAX_ALERT_TEXT_LENGTH));
    expect(r.detection.hostName).toBe("h".repeat(MAX_ALERT_TEXT_LENGTH));
    expect(r.detection.incidentName).toHaveLength(MAX_ALERT_TEXT_LENGTH);
    expect(r.detection.fileName).toBe("payload.exe");
  });

  it("reads Cynet's space-separated times as UTC", () => {
    const r = classifyAlert({ ClientDbId: 12, AlertType: 0, Sha256: H, DateIn: "2026-05-09 14:21:43" }, now);
    if (r.kind !== "detection") throw new Error("expected a detection");
    expect(r.detection.detectedAt.toISOString()).toBe("2026-05-09T14:21:43.000Z");
  });
});
