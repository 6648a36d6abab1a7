/**
 * The key ring and sealing of src/storage/secrets.ts: how CREDENTIALS_KEY is read, what a bad
 * one is refused with, and that a sealed secret opens only for its own tenant and purpose, under
 * the key it was sealed with, also after that key was rotated behind a new one.
 */
import { describe, expect, it } from "vitest";
import { loadKeyRing, open, seal, SecretsError, type KeyRing } from "../../src/storage/secrets";

/** A fresh random AES-256 key, base64 as CREDENTIALS_KEY spells it. */
function newKey(bytes = 32): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))));
}

/** The versions a ring holds, the current one first. */
function versions(ring: KeyRing) {
  return { current: ring.current.version, all: [...ring.byVersion.keys()].sort((a, b) => b - a) };
}

/** The error `promise` is refused with; fails the test when it is not refused. */
async function refusal(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(SecretsError);
  return outcome.error as Error;
}

describe("loadKeyRing", () => {
  it("reads a bare key as version 1, the current one", async () => {
    expect(versions(await loadKeyRing(newKey()))).toEqual({ current: 1, all: [1] });
  });

  it("reads 'v2:<base64>,v1:<base64>' as two versions, the first one current", async () => {
    expect(versions(await loadKeyRing(`v2:${newKey()},v1:${newKey()}`))).toEqual({ current: 2, all: [2, 1] });
    // The order written is what counts, not the numbers: an operator going back to v1 writes it first.
    expect(versions(await loadKeyRing(`v1:${newKey()},v2:${newKey()}`))).toEqual({ current: 1, all: [2, 1] });
  });

  it("ignores blanks around entries and empty entries", async () => {
    expect(versions(await loadKeyRing(` v7:${newKey()} , ,v3:${newKey()},`))).toEqual({ current: 7, all: [7, 3] });
  });

  const bad: Array<[string, (key: string) => string | undefined, RegExp]> = [
    ["missing", () => undefined, /^CREDENTIALS_KEY is not configured\.$/],
    ["empty", () => "", /^CREDENTIALS_KEY is not configured\.$/],
    ["only commas", () => " , ,", /^CREDENTIALS_KEY holds no key\.$/],
    ["not base64", () => "v2:not base64!", /^CREDENTIALS_KEY entry for version 2 is not base64\.$/],
    ["a 16-byte key", () => `v1:${newKey(16)}`, /^CREDENTIALS_KEY entry for version 1 must be 32 bytes\.$/],
    ["a 64-byte bare key", () => newKey(64), /^CREDENTIALS_KEY entry for version 1 must be 32 bytes\.$/],
    ["a good key beside a short one", (key) => `v2:${key},v1:${newKey(31)}`, /^CREDENTIALS_KEY entry for version 1 must be 32 bytes\.$/],
    ["one version twice", (key) => `v2:${key},v2:${newKey()}`, /^CREDENTIALS_KEY names version 2 twice\.$/],
  ];
  for (const [name, ring, message] of bad) {
    it(`refuses a ring that is ${name}, saying what is wrong and showing no key`, async () => {
      const key = newKey();
      const configured = ring(key);
      const error = await refusal(loadKeyRing(configured));
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(key);
      for (const part of (configured ?? "").split(/[,:]/).filter((p) => p.length > 8)) expect(error.message).not.toContain(part);
      // Refused every time it is asked, not just the first.
      expect((await refusal(loadKeyRing(configured))).message).toMatch(message);
    });
  }
});

describe("seal and open", () => {
  it("opens what it sealed, any text, and the sealed form shows none of it", async () => {
    const ring = await loadKeyRing(newKey());
    for (const secret of ["Operator-Pass-1", "", "pässwörd ✓ 🔑", "x".repeat(10_000)]) {
      const sealed = await seal(ring, "acme", "password", secret);
      expect(sealed.keyVersion).toBe(1);
      if (secret.length > 0) expect(JSON.stringify(sealed)).not.toContain(secret);
      expect(await open(ring, "acme", "password", sealed)).toBe(secret);
    }
  });

  it("seals the same text differently every time (a fresh IV each write)", async () => {
    const ring = await loadKeyRing(newKey());
    const [a, b] = [await seal(ring, "acme", "password", "same"), await seal(ring, "acme", "password", "same")];
    expect(a.iv).not.toBe(b.iv);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(atob(a.iv).length).toBe(12);
  });

  it("binds a sealed value to its tenant and purpose: moved to another tenant or column, it does not open", async () => {
    const ring = await loadKeyRing(newKey());
    const sealed = await seal(ring, "acme", "password", "Operator-Pass-1");
    const failed = /^A sealed secret failed authentication \(wrong key, tenant or purpose\)\.$/;
    expect((await refusal(open(ring, "globex", "password", sealed))).message).toMatch(failed);
    expect((await refusal(open(ring, "acme", "token", sealed))).message).toMatch(failed);
    // A prefix of the tenant id is another tenant too.
    expect((await refusal(open(ring, "acm", "password", sealed))).message).toMatch(failed);
    expect(await open(ring, "acme", "password", sealed)).toBe("Operator-Pass-1");
  });

  it("refuses a tampered value and one sealed under another key of the same version", async () => {
    const ring = await loadKeyRing(newKey());
    const sealed = await seal(ring, "acme", "password", "Operator-Pass-1");
    const bytes = Uint8Array.from(atob(sealed.ciphertext), (ch) => ch.charCodeAt(0));
    bytes[0] = bytes[0]! ^ 1;
    const tampered = { ...sealed, ciphertext: btoa(String.fromCharCode(...bytes)) };
    expect((await refusal(open(ring, "acme", "password", tampered))).message).toMatch(/failed authentication/);
    const otherKey = await loadKeyRing(newKey());
    expect((await refusal(open(otherKey, "acme", "password", sealed))).message).toMatch(/failed authentication/);
  });
});

describe("key rotation", () => {
  it("opens values sealed with v1 after the ring becomes v2,v1, seals new ones with v2, and says when v1 is gone too early", async () => {
    const v1 = newKey();
    const v2 = newKey();
    // A deployment starts with a bare key: that is version 1.
    const before = await loadKeyRing(v1);
    const old = await seal(before, "acme", "password", "sealed before the rotation");
    expect(old.keyVersion).toBe(1);

    const rotated = await loadKeyRing(`v2:${v2},v1:${v1}`);
    expect(await open(rotated, "acme", "password", old)).toBe("sealed before the rotation");
    const fresh = await seal(rotated, "acme", "password", "sealed after the rotation");
    expect(fresh.keyVersion).toBe(2);
    expect(await open(rotated, "acme", "password", fresh)).toBe("sealed after the rotation");
    // Sealed with v2 indeed: the old ring cannot open it, and says why.
    expect((await refusal(open(before, "acme", "password", fresh))).message).toBe("No key of version 2 in CREDENTIALS_KEY; it was rotated out too early.");

    // v1 dropped while a value sealed with it is still stored.
    const v2Only = await loadKeyRing(`v2:${v2}`);
    expect(await open(v2Only, "acme", "password", fresh)).toBe("sealed after the rotation");
    const early = await refusal(open(v2Only, "acme", "password", old));
    expect(early.message).toBe("No key of version 1 in CREDENTIALS_KEY; it was rotated out too early.");
    expect(early.message).not.toContain(v1);
  });
});
