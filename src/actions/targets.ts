/**
 * Which hosts an action may name (host contract §2: "only named hosts, never everywhere"): for a
 * file action, endpoints this tenant's detections or findings show the file on, or that Cynet's
 * `/api/full/file` occurrences list; for a host action, endpoints the tenant's detections or
 * findings name (findings: the host's convicted attachments Cynet found on endpoints).
 * Each host is answered as Cynet spells it, so the request Cynet gets names its own host.
 */
import { and, eq, sql } from "drizzle-orm";
import type { Env } from "../env";
import { fetchFile } from "../cynet/client";
import { endpointsSeen } from "../findings/check";
import { openSession } from "../cynet/session";
import { CynetError, cynetTarget } from "../cynet/transport";
import { ApiError } from "../http/errors";
import type { Database } from "../storage/db";
import { jsonList } from "../storage/json-list";
import { detections, findingEndpoints } from "../storage/schema";
import { loadKeyRing } from "../storage/secrets";
import type { TenantRow } from "../storage/tenants";

/** Case-insensitive key of a host name: Windows and DNS names ignore case. */
export const hostKey = (host: string) => host.trim().toLowerCase();

/** The host names (as Cynet spells them) the tenant's detections show `sha256` on; the covering index answers it. */
async function detectedHostsOfFile(db: Database, tenantId: string, sha256: string): Promise<string[]> {
  const rows = await db
    .selectDistinct({ host: detections.hostName })
    .from(detections)
    .where(and(eq(detections.tenantId, tenantId), eq(detections.sha256, sha256)));
  return rows.flatMap((r) => (r.host ? [r.host] : []));
}

/** Of `keys` (lower-cased host names), the ones some detection of the tenant names, as Cynet spells them. */
async function detectedHosts(db: Database, tenantId: string, keys: string[]): Promise<string[]> {
  const rows = await db
    .selectDistinct({ host: detections.hostName })
    .from(detections)
    .where(and(eq(detections.tenantId, tenantId), sql`lower(${detections.hostName}) in ${jsonList(keys)}`));
  return rows.flatMap((r) => (r.host ? [r.host] : []));
}

/** Of `keys`, the endpoints Cynet reported the tenant's convicted attachments on (of one file, or any), as Cynet spells them. */
async function foundHosts(db: Database, tenantId: string, keys: string[], sha256: string | null): Promise<string[]> {
  const rows = await db
    .selectDistinct({ host: findingEndpoints.hostname })
    .from(findingEndpoints)
    .where(
      and(
        eq(findingEndpoints.tenantId, tenantId),
        sql`lower(${findingEndpoints.hostname}) in ${jsonList(keys)}`,
        ...(sha256 === null ? [] : [eq(findingEndpoints.sha256, sha256)]),
      ),
    );
  return rows.map((r) => r.host);
}

/** The hosts Cynet's file record lists for `sha256` (empty when Cynet never saw the file); a failure is a 502 in words. */
async function cynetHostsOfFile(env: Env, db: Database, tenant: TenantRow, sha256: string, now: Date): Promise<string[]> {
  if (!tenant.orgUrl || !tenant.clientId || !tenant.username) return [];
  try {
    const ring = await loadKeyRing(env.CREDENTIALS_KEY);
    const session = await openSession(db, ring, { id: tenant.id, orgUrl: tenant.orgUrl, clientId: tenant.clientId, username: tenant.username }, cynetTarget(env, tenant.orgUrl), now);
    const file = await fetchFile(session, sha256);
    // The findings' reading of occurrences (one per host name, odd entries skipped) serves here too.
    return endpointsSeen(file).map((o) => o.hostname);
  } catch (err) {
    if (err instanceof CynetError && err.failure === "http" && err.status === 404) return [];
    if (err instanceof CynetError) {
      throw new ApiError(502, "cynet_unavailable", `Cynet could not be asked which endpoints have this file (${err.status === undefined ? "no answer" : `HTTP ${err.status}`}), so the hosts cannot be checked: try again shortly.`, "hosts");
    }
    throw err;
  }
}

/**
 * The requested hosts as Cynet spells them, in the order asked; a 400 naming the first host
 * Cynet never saw with this file (file actions) or at all (host actions). Cynet is asked only
 * when the tenant's detections do not already show every host.
 */
export async function resolveHosts(env: Env, db: Database, tenant: TenantRow, hosts: string[], sha256: string | null, now: Date): Promise<string[]> {
  const keys = hosts.map(hostKey);
  const known = new Map<string, string>();
  const learn = (names: string[]) => names.forEach((n) => known.has(hostKey(n)) || known.set(hostKey(n), n));
  learn(sha256 === null ? await detectedHosts(db, tenant.id, keys) : await detectedHostsOfFile(db, tenant.id, sha256));
  if (keys.some((k) => !known.has(k))) learn(await foundHosts(db, tenant.id, keys.filter((k) => !known.has(k)), sha256));
  if (sha256 !== null && keys.some((k) => !known.has(k))) learn(await cynetHostsOfFile(env, db, tenant, sha256, now));
  return hosts.map((host, i) => {
    const spelled = known.get(keys[i]!);
    if (spelled !== undefined) return spelled;
    const message =
      sha256 === null
        ? `"hosts.${i}": Cynet has not reported host "${host}" in this organization's detections or findings, so it cannot be acted on. Name a host Cynet has seen.`
        : `"hosts.${i}": Cynet has not seen this file on host "${host}" (neither in this organization's detections nor in Cynet's file record). Name a host the file is on.`;
    throw new ApiError(400, "unknown_host", message, `hosts.${i}`);
  });
}
