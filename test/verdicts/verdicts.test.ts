import { describe, expect, it } from "vitest";
import { BOOKMARK_HEADER } from "../../src/storage/sessions";
import { callJson, uniqueTenant, enable } from "../support/plugin";
import { drainSync, prepared, rows, settle } from "../support/sync";

type Verdicts = { results: Array<{ hash: string; hashType: string; malicious: boolean; firstDetectedAt?: string; endpoints?: number }> };

/** A synced tenant whose files' MD5/SHA-1 were learned (correlation runs with the first deliveries). */
async function syncedWithHashes() {
  const c = await prepared(240);
  expect(await drainSync(c.env, c.tenantId)).toContain("completed");
  await settle(c.env, c.dispatch);
  const files = await rows<{ sha256: string; md5: string | null; sha1: string | null }>("SELECT sha256, md5, sha1 FROM file_hashes WHERE tenant_id = ? AND state = 'known'", c.tenantId);
  const withMd5 = files.find((f) => f.md5)!;
  const withSha1 = files.find((f) => f.sha1 && f.sha256 !== withMd5.sha256)!;
  expect(withMd5 && withSha1).toBeTruthy();
  return { ...c, withMd5, withSha1 };
}

describe("verdicts", () => {
  it("answers mixed types, mixed case and duplicates, one result per distinct hash", async () => {
    const c = await syncedWithHashes();
    const [someSha] = [...c.expected.values()];
    const detectedOn = await rows<{ first: number; endpoints: number }>(
      "SELECT min(detected_at) AS first, count(DISTINCT coalesce(host_name, host_ip, '')) AS endpoints FROM detections WHERE tenant_id = ? AND sha256 = ?",
      c.tenantId,
      someSha,
    );
    const unknown = "0".repeat(64);
    const r = await callJson<Verdicts>("POST", `/v1/tenants/${c.tenantId}/verdicts`, {
      hashes: [someSha!.toUpperCase(), someSha, ` ${c.withMd5.md5!.toUpperCase()} `, c.withSha1.sha1, unknown, "f".repeat(32)],
    });
    expect(r.status).toBe(200);
    expect(r.body.results).toHaveLength(5);
    const by = new Map(r.body.results.map((v) => [v.hash, v]));
    expect(by.get(someSha!)).toEqual({ hash: someSha, hashType: "sha256", malicious: true, firstDetectedAt: new Date(detectedOn[0]!.first).toISOString(), endpoints: detectedOn[0]!.endpoints });
    expect(by.get(c.withMd5.md5!)).toMatchObject({ hashType: "md5", malicious: true });
    expect(by.get(c.withSha1.sha1!)).toMatchObject({ hashType: "sha1", malicious: true });
    expect(by.get(unknown)).toEqual({ hash: unknown, hashType: "sha256", malicious: false });
    expect(by.get("f".repeat(32))).toEqual({ hash: "f".repeat(32), hashType: "md5", malicious: false });
  });

  it("answers 400 naming every malformed entry", async () => {
    const tenantId = uniqueTenant("v");
    await enable(tenantId);
    const r = await callJson("POST", `/v1/tenants/${tenantId}/verdicts`, { hashes: ["a".repeat(64), "xyz", 42, "g".repeat(64), "a".repeat(63)] });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: "invalid_hashes", field: "hashes.1" });
    expect(r.body.message).toContain("hashes[1]");
    expect(r.body.message).toContain("hashes[2] is not a string");
    expect(r.body.message).toContain("hashes[3]");
    expect(r.body.message).toContain("hashes[4]");
    expect(r.body.message).not.toContain("hashes[0]");
  });

  it("refuses an empty list, more than 1000 hashes, and a body that is not a list", async () => {
    const tenantId = uniqueTenant("v");
    const path = `/v1/tenants/${tenantId}/verdicts`;
    expect((await callJson("POST", path, { hashes: [] })).status).toBe(400);
    const many = Array.from({ length: 1001 }, (_, i) => i.toString(16).padStart(64, "0"));
    const tooMany = await callJson("POST", path, { hashes: many });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.field).toBe("hashes");
    expect((await callJson("POST", path, { hashes: "abc" })).status).toBe(400);
    const thousand = await callJson<Verdicts>("POST", path, { hashes: many.slice(0, 1000) });
    expect(thousand.status).toBe(200);
    expect(thousand.body.results).toHaveLength(1000);
  });

  it("never shows tenant A's findings to tenant B", async () => {
    const c = await syncedWithHashes();
    const hashes = [...new Set(c.expected.values())].slice(0, 20);
    const other = uniqueTenant("b");
    await enable(other);
    const mine = await callJson<Verdicts>("POST", `/v1/tenants/${c.tenantId}/verdicts`, { hashes });
    const theirs = await callJson<Verdicts>("POST", `/v1/tenants/${other}/verdicts`, { hashes });
    expect(mine.body.results.every((v) => v.malicious)).toBe(true);
    expect(theirs.body.results.every((v) => !v.malicious)).toBe(true);
  });

  it("answers with the D1 bookmark it read at; a caller sending it back sees a new detection; a malformed bookmark is a 400 naming the header", async () => {
    const c = await prepared(120);
    const path = `/v1/tenants/${c.tenantId}/verdicts`;
    const hashes = [...new Set(c.expected.values())].slice(0, 5);
    const before = await callJson<Verdicts>("POST", path, { hashes });
    expect(before.status).toBe(200);
    expect(before.body.results.every((v) => !v.malicious)).toBe(true);
    const bookmark = before.headers.get(BOOKMARK_HEADER);
    expect(bookmark).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/);

    // The sync stores the world's new alerts; the caller's next call, with its bookmark, sees them.
    expect(await drainSync(c.env, c.tenantId)).toContain("completed");
    const after = await callJson<Verdicts>("POST", path, { hashes }, { headers: { [BOOKMARK_HEADER]: bookmark! } });
    expect(after.status).toBe(200);
    expect(after.body.results.map((v) => [v.hash, v.malicious])).toEqual(hashes.map((h) => [h, true]));
    // Bookmarks order as the database's versions do: this answer read one at least as recent.
    expect(after.headers.get(BOOKMARK_HEADER)! >= bookmark!).toBe(true);

    for (const malformed of ["not-a-bookmark", `ABCDEF01${bookmark!.slice(8)}`, `${bookmark!.slice(0, -1)}g`, `${bookmark}0`, "first-primary"]) {
      const refused = await callJson("POST", path, { hashes }, { headers: { [BOOKMARK_HEADER]: malformed } });
      expect(refused.status, malformed).toBe(400);
      expect(refused.body).toMatchObject({ error: "invalid_request", field: BOOKMARK_HEADER });
      expect(refused.body.message).toContain(BOOKMARK_HEADER);
      expect(refused.headers.get(BOOKMARK_HEADER)).toBeNull();
    }
  });
});
