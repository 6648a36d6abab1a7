/** The idempotency key formats (a contract with the host) against their documentation. */
import { describe, expect, it } from "vitest";
import storageSchema from "../../docs/storage-schema.md?raw";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { decisionNoteKeySql, keyDigest, outboxKeys } from "../../src/dispatch/keys";
import { database } from "../../src/storage/db";

/** The key column of docs/storage-schema.md's "Keys that make effects happen once" table, as its prefixes. */
function documentedPrefixes(): Set<string> {
  const section = storageSchema.split("## Keys that make effects happen once")[1]!.split("\n## ")[0]!;
  return new Set([...section.matchAll(/`(cynet-[a-z-]+):/g)].map((m) => m[1]!));
}

describe("idempotency keys", () => {
  const batch = { tenantId: "acme", runId: 7, leaseId: "lease-1", pages: 8 };
  const scan = { tenantId: "acme", scanDigest: "00ff", sha256: "a".repeat(64) };
  const every: Record<keyof typeof outboxKeys, string> = {
    event: outboxKeys.event("acme", 42),
    eventsRow: outboxKeys.eventsRow(batch, 1),
    matchRow: outboxKeys.matchRow(batch),
    matchNext: outboxKeys.matchNext("acme", "c0ffee"),
    matchRetry: outboxKeys.matchRetry("acme", "c0ffee", 2),
    search: outboxKeys.search("acme", "c0ffee", 3, "b0d1"),
    irRequest: outboxKeys.irRequest(scan),
    notePrefix: outboxKeys.notePrefix(scan),
    firstNote: outboxKeys.firstNote(scan),
    followUpNote: outboxKeys.followUpNote(scan, "beef"),
    decisionNote: outboxKeys.decisionNote(scan, 2),
    attachmentEvent: outboxKeys.attachmentEvent({ tenantId: "acme", sha256: "a".repeat(64), hostDigest: "0bad" }),
    attachmentEventsRow: outboxKeys.attachmentEventsRow("acme", "a".repeat(64), "c4ec", 0),
    attachmentNotePrefix: outboxKeys.attachmentNotePrefix(scan),
    attachmentFirstNote: outboxKeys.attachmentFirstNote(scan),
    attachmentFollowUpNote: outboxKeys.attachmentFollowUpNote(scan, "beef"),
    actionNote: outboxKeys.actionNote("acme", "6f1c2d3e-0000-4000-8000-000000000001"),
  };

  it("spells each format as docs/storage-schema.md documents it", () => {
    expect(every).toEqual({
      event: "cynet-event:acme:42",
      eventsRow: "cynet-events:acme:7:lease-1:8:1",
      matchRow: "cynet-match:acme:7:lease-1:8",
      matchNext: "cynet-match-next:acme:c0ffee",
      matchRetry: "cynet-match-retry:acme:c0ffee:2",
      search: "cynet-search:acme:c0ffee:3:b0d1",
      irRequest: `cynet-ir:acme:00ff:${"a".repeat(64)}`,
      notePrefix: `cynet-note:acme:00ff:${"a".repeat(64)}:`,
      firstNote: `cynet-note:acme:00ff:${"a".repeat(64)}:first`,
      followUpNote: `cynet-note:acme:00ff:${"a".repeat(64)}:beef`,
      decisionNote: `cynet-decision:acme:00ff:${"a".repeat(64)}:2`,
      attachmentEvent: `cynet-attachment-event:acme:${"a".repeat(64)}:0bad`,
      attachmentEventsRow: `cynet-attachment-events:acme:${"a".repeat(64)}:c4ec:0`,
      attachmentNotePrefix: `cynet-attachment-note:acme:00ff:${"a".repeat(64)}:`,
      attachmentFirstNote: `cynet-attachment-note:acme:00ff:${"a".repeat(64)}:first`,
      attachmentFollowUpNote: `cynet-attachment-note:acme:00ff:${"a".repeat(64)}:beef`,
      actionNote: "cynet-action-note:acme:6f1c2d3e-0000-4000-8000-000000000001",
    });
    const prefixes = new Set(Object.values(every).map((k) => k.split(":")[0]!));
    expect(documentedPrefixes()).toEqual(prefixes);
  });

  it("names a search by its correlation, chunk and body, never by the hashes alone or the correlation alone", () => {
    expect(outboxKeys.search("acme", "one", 0, "body")).not.toBe(outboxKeys.search("acme", "two", 0, "body"));
    expect(outboxKeys.search("acme", "one", 0, "body")).not.toBe(outboxKeys.search("acme", "one", 1, "body"));
    expect(outboxKeys.search("acme", "one", 0, "body")).not.toBe(outboxKeys.search("acme", "one", 0, "other"));
  });

  it("digests host- and Cynet-supplied strings into 24 hex characters", async () => {
    expect(await keyDigest("scan\nwith: odd chars")).toMatch(/^[0-9a-f]{24}$/);
    expect(await keyDigest("a")).not.toBe(await keyDigest("b"));
  });

  it("builds a decision note's key in SQL exactly as outboxKeys.decisionNote spells it", async () => {
    const irKey = outboxKeys.irRequest(scan);
    // The seq as the statement reads it: an INTEGER column (a bound JS number would arrive as REAL, "7.0").
    const [row] = await database(env.DB).all<{ key: string }>(sql`select ${decisionNoteKeySql(sql`${irKey}`, sql`cast(${7} as integer)`)} as key`);
    expect(row!.key).toBe(outboxKeys.decisionNote(scan, 7));
  });
});
