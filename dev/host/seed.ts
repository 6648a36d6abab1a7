/**
 * What a fresh dev host holds: the tenant `acme` ("Acme Corp"), no bundle assigned, and scans
 * of which several contain files the Cynet simulator's default world `acme` reports as
 * malicious, so activate → sync now shows events, scan notes and IR requests.
 *
 * The simulator's default world draws its files from a PRNG seeded with the FNV-1a hash of the
 * label; the epoch (the world's creation minute) moves only the times, never the hashes or the
 * alert kinds and statuses. So the hashes are computed here with the simulator's own generator,
 * with no call to the simulator and no dependency on when it started.
 */
import { generateAlerts, type SimFile } from "../cynet-sim/generate";
import type { SimAlert } from "../cynet-sim/alert";
import type { SeededScan } from "./schemas";

/** The tenant a fresh dev host has. */
export const DEFAULT_TENANT = { tenantId: "acme", displayName: "Acme Corp" } as const;

/** The simulator world the default tenant's Cynet is: label `acme`, default configuration (dev/cynet-sim/world.ts). */
const SIM_WORLD = { label: "acme", alertCount: 250 } as const;
/** Any epoch gives the same files (see above); this one only satisfies the generator's signature. */
const ANY_EPOCH_MS = Date.UTC(2026, 0, 1);
/** Cynet's AlertType for a file alert, and its Status for an ignored alert (cynet-api.md). */
const FILE_ALERT_TYPE = 0;
const IGNORED_STATUS = 2;
const SHA256 = /^[0-9a-f]{64}$/i;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The simulator's default seed for a label: FNV-1a of the label (dev/cynet-sim/world.ts `labelSeed`). */
function labelSeed(label: string): number {
  let h = 0x811c9dc5;
  for (const ch of label) h = Math.imul(h ^ (ch.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  return h;
}

/** The top-level SHA-256 of an alert the plugin will count as a malicious file, or null. */
function detectedHash(alert: SimAlert): string | null {
  if (alert.AlertType != null && alert.AlertType !== FILE_ALERT_TYPE) return null;
  if (alert.Status === IGNORED_STATUS) return null;
  const top = alert.Sha256 ?? alert.Sha256Hex;
  return top != null && SHA256.test(top) ? top.toLowerCase() : null;
}

/**
 * Files of the default world that some non-ignored file alert names with a valid top-level
 * SHA-256, not whitelisted, with all three hashes, one per file name, in alert order.
 */
export function maliciousSimFiles(count: number): SimFile[] {
  const { alerts, files } = generateAlerts(labelSeed(SIM_WORLD.label), SIM_WORLD.alertCount, ANY_EPOCH_MS);
  const byHash = new Map(files.map((f) => [f.sha256, f]));
  const picked: SimFile[] = [];
  const names = new Set<string>();
  for (const alert of alerts) {
    const hash = detectedHash(alert);
    const file = hash === null ? undefined : byHash.get(hash);
    if (file === undefined || file.whitelisted || file.sha1 === "" || names.has(file.fileName)) continue;
    names.add(file.fileName);
    picked.push(file);
    if (picked.length === count) break;
  }
  return picked;
}

async function digestHex(algorithm: "SHA-256" | "SHA-1", text: string): Promise<string> {
  const bytes = await crypto.subtle.digest(algorithm, new TextEncoder().encode(text));
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The seeded scans, timed back from `nowMs`: scans happened weeks before Cynet's alerts came in. */
export async function seedScans(nowMs: number): Promise<SeededScan[]> {
  const at = (daysAgo: number, hour: number) => new Date(Math.floor(nowMs / DAY_MS) * DAY_MS - daysAgo * DAY_MS + hour * HOUR_MS).toISOString();
  const [a, b, c, d] = maliciousSimFiles(4);
  if (a === undefined || b === undefined || c === undefined || d === undefined) throw new Error("the simulator's default world has fewer malicious files than the seed needs");
  const clean = async (name: string) => ({ sha256: await digestHex("SHA-256", `dev-host clean file ${name}`), sha1: await digestHex("SHA-1", `dev-host clean file ${name}`) });
  return [
    { scanId: "scan-1001", fileName: a.fileName, scannedAt: at(27, 9), sha256: a.sha256, md5: a.md5, sha1: a.sha1 },
    { scanId: "scan-1002", fileName: "quarterly_report.xlsx", scannedAt: at(26, 10), ...(await clean("quarterly_report.xlsx")) },
    { scanId: "scan-1003", fileName: b.fileName, scannedAt: at(25, 14), sha256: b.sha256 },
    { scanId: "scan-1004", fileName: "vpn_client.msi", scannedAt: at(24, 8), ...(await clean("vpn_client.msi")) },
    { scanId: "scan-1005", fileName: c.fileName, scannedAt: at(23, 16), sha256: c.sha256, md5: c.md5 },
    // Only the MD5: the plugin has to learn it from Cynet's file record to match this one.
    { scanId: "scan-1006", fileName: d.fileName, scannedAt: at(22, 11), md5: d.md5 },
    { scanId: "scan-1007", fileName: "company_logo.png", scannedAt: at(22, 15), ...(await clean("company_logo.png")) },
    // The same file scanned again on another machine: a second note and IR request for one hash.
    { scanId: "scan-1008", fileName: a.fileName, scannedAt: at(21, 13), sha256: a.sha256 },
  ];
}
