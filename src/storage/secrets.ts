/**
 * Sealing secrets at rest with AES-GCM-256. The key ring comes from the `CREDENTIALS_KEY`
 * secret; every write uses a fresh random IV and binds the ciphertext to its tenant and
 * purpose through the additional data, so a row copied to another tenant or column fails to open.
 */

/** AES-GCM's recommended IV length (NIST SP 800-38D). */
const IV_BYTES = 12;
/** AES-256 keys are 32 bytes. */
const KEY_BYTES = 32;
/** Key version given to a ring written as a single bare key. */
const DEFAULT_KEY_VERSION = 1;

export type Sealed = { keyVersion: number; iv: string; ciphertext: string };

/** The keys that can open sealed rows, and the one new writes use. */
export interface KeyRing {
  current: { version: number; key: CryptoKey };
  byVersion: Map<number, CryptoKey>;
}

/** Thrown when the key ring is unusable or a sealed value cannot be opened; carries no secret. */
export class SecretsError extends Error {
  override name = "SecretsError";
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const ringCache = new Map<string, Promise<KeyRing>>();

/** Parses `CREDENTIALS_KEY` ("<base64>" or "v2:<base64>,v1:<base64>") into a key ring; cached per isolate. */
export function loadKeyRing(configured: string | undefined): Promise<KeyRing> {
  if (!configured) return Promise.reject(new SecretsError("CREDENTIALS_KEY is not configured."));
  let ring = ringCache.get(configured);
  if (!ring) {
    ring = importRing(configured);
    ringCache.set(configured, ring);
    ring.catch(() => ringCache.delete(configured));
  }
  return ring;
}

async function importRing(configured: string): Promise<KeyRing> {
  const entries = configured.split(",").map((e) => e.trim()).filter((e) => e !== "");
  const byVersion = new Map<number, CryptoKey>();
  let current: KeyRing["current"] | undefined;
  for (const entry of entries) {
    const m = /^v(\d{1,6}):(.+)$/.exec(entry);
    const version = m ? Number(m[1]) : DEFAULT_KEY_VERSION;
    let raw: Uint8Array;
    try {
      raw = fromBase64(m ? m[2]! : entry);
    } catch {
      throw new SecretsError(`CREDENTIALS_KEY entry for version ${version} is not base64.`);
    }
    if (raw.byteLength !== KEY_BYTES) throw new SecretsError(`CREDENTIALS_KEY entry for version ${version} must be ${KEY_BYTES} bytes.`);
    if (byVersion.has(version)) throw new SecretsError(`CREDENTIALS_KEY names version ${version} twice.`);
    const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    byVersion.set(version, key);
    current ??= { version, key };
  }
  if (!current) throw new SecretsError("CREDENTIALS_KEY holds no key.");
  return { current, byVersion };
}

function additionalData(tenantId: string, purpose: string): Uint8Array {
  return new TextEncoder().encode(`cynet-channel:${purpose}:${tenantId}`);
}

/** Encrypts `plaintext` for one tenant and purpose with the ring's current key. */
export async function seal(ring: KeyRing, tenantId: string, purpose: string, plaintext: string): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: additionalData(tenantId, purpose) },
    ring.current.key,
    new TextEncoder().encode(plaintext),
  );
  return { keyVersion: ring.current.version, iv: toBase64(iv), ciphertext: toBase64(new Uint8Array(ct)) };
}

/** Decrypts a sealed value; fails when the key version is gone or the row was tampered with or moved. */
export async function open(ring: KeyRing, tenantId: string, purpose: string, sealed: Sealed): Promise<string> {
  const key = ring.byVersion.get(sealed.keyVersion);
  if (!key) throw new SecretsError(`No key of version ${sealed.keyVersion} in CREDENTIALS_KEY; it was rotated out too early.`);
  try {
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64(sealed.iv), additionalData: additionalData(tenantId, purpose) },
      key,
      fromBase64(sealed.ciphertext),
    );
    return new TextDecoder().decode(pt);
  } catch {
    throw new SecretsError("A sealed secret failed authentication (wrong key, tenant or purpose).");
  }
}
