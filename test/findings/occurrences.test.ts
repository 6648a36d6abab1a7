/** Reading Cynet's file occurrences into endpoints (src/findings/check.ts endpointsSeen): tolerant of odd entries, one per host. */
import { describe, expect, it } from "vitest";
import { FileRecord } from "../../src/cynet/schemas";
import { endpointsSeen } from "../../src/findings/check";

const record = (occurrences: unknown) => FileRecord.parse({ sha256: "a".repeat(64), occurrences });

describe("endpointsSeen", () => {
  it("keeps one endpoint per host, where the file ran when it ran anywhere on that host", () => {
    const seen = endpointsSeen(
      record([
        { hostname: "WS-1", full_path: "C:\\a.exe", file_type: "FILE", owner_user: "bob" },
        { hostname: "WS-1", full_path: "C:\\Temp\\a.exe", file_type: "process", running_user: "bob", last_run_time: "2026-11-30T10:00:00Z" },
        { hostname: "WS-1", full_path: "D:\\a.exe", file_type: "FILE" },
        { hostname: " WS-2 ", full_path: "C:\\a.exe" },
      ]),
    );
    expect(seen.map((e) => [e.hostname, e.fullPath, e.ranAsProcess, e.runningUser])).toEqual([
      ["WS-1", "C:\\Temp\\a.exe", true, "bob"],
      ["WS-2", "C:\\a.exe", false, null],
    ]);
  });

  it("skips entries with no usable host name and reads odd fields as absent, keeping the rest", () => {
    const seen = endpointsSeen(
      record([
        "not an object",
        null,
        { full_path: "C:\\no-host.exe" },
        { hostname: "   " },
        { hostname: "h".repeat(256) },
        { hostname: "WS-3", full_path: 42, file_type: ["PROCESS"], owner_user: "  ", creation_time: "x".repeat(2000) },
      ]),
    );
    expect(seen).toEqual([
      { hostname: "WS-3", fullPath: null, fileName: null, fileType: null, ranAsProcess: false, ownerUser: null, runningUser: null, creationTime: "x".repeat(1024), lastRunTime: null },
    ]);
  });

  it("reads no endpoints from a record without occurrences, an odd occurrences field, or none (404)", () => {
    expect(endpointsSeen(record(undefined))).toEqual([]);
    expect(endpointsSeen(record({ hostname: "WS-4" }))).toEqual([]);
    expect(endpointsSeen(null)).toEqual([]);
  });
});
