/**
 * The verdict lookup as one SQL statement. Kept apart from the route (and free of Worker
 * imports, hence the .ts specifier) so `npm run bench` runs this very statement in raw SQLite
 * next to the Worker.
 */
import { sql } from "drizzle-orm";
import { z } from "zod";
import { jsonList } from "../storage/json-list.ts";
import { detections, fileHashes, REVOCATION_REASONS, verdictChanges } from "../storage/schema.ts";

/**
 * The statement's single value, parsed, per hash with detections: [hash as asked, first live
 * detection (ms, null when none is live), distinct live endpoints, and for a hash with no live
 * detection its last verdict change: when (ms), why, which alert].
 */
export const FoundHashes = z.array(
  z.tuple([z.string(), z.number().nullable(), z.number(), z.tuple([z.number(), z.enum(REVOCATION_REASONS).nullable(), z.number().nullable()]).nullable()]),
);

/** The asked hashes (lower case, validated), by type. */
export interface AskedHashes {
  sha256: string[];
  md5: string[];
  sha1: string[];
}

/**
 * One statement for a whole verdict call, however many hashes are asked. Each type's hashes
 * arrive as one JSON parameter; MD5 and SHA-1 are mapped to the SHA-256 they were learned for
 * through file_hashes; the detections of each SHA-256 are aggregated per asked hash from the
 * covering (tenant, sha256, detected_at, host, revoked_at) index, live ones (not revoked) only
 * for the first detection and the endpoints. A hash none of whose detections is live is looked
 * up in verdict_changes for when and why it was revoked: a primary-key probe, for those hashes (in a CASE, so a malicious hash never pays for it)
 * only. The answer is one JSON value (column
 * `found`) rather than a row per hash, so carrying results out of D1 costs the same however
 * many are found. CROSS JOIN fixes the join order: the asked hashes drive the index whatever
 * the table's statistics say.
 */
export function verdictLookup(tenantId: string, asked: AskedHashes) {
  return sql`with target(h, sha256) as (
      select value, value from json_each(${JSON.stringify(asked.sha256)})
      union all select ${fileHashes.md5}, ${fileHashes.sha256} from ${fileHashes}
        where ${fileHashes.tenantId} = ${tenantId} and ${fileHashes.md5} in ${jsonList(asked.md5)}
      union all select ${fileHashes.sha1}, ${fileHashes.sha256} from ${fileHashes}
        where ${fileHashes.tenantId} = ${tenantId} and ${fileHashes.sha1} in ${jsonList(asked.sha1)}),
    found(h, sha256, first, endpoints) as (
      select target.h, target.sha256,
        min(case when ${detections.revokedAt} is null then ${detections.detectedAt} end),
        count(distinct case when ${detections.revokedAt} is null then coalesce(${detections.hostName}, ${detections.hostIp}, '') end)
      from target cross join ${detections} on ${detections.tenantId} = ${tenantId} and ${detections.sha256} = target.sha256
      group by target.h)
    select json_group_array(json_array(found.h, found.first, found.endpoints,
      case when found.first is null then (select json_array(${verdictChanges.at}, ${verdictChanges.reason}, ${verdictChanges.alertId}) from ${verdictChanges}
        where ${verdictChanges.tenantId} = ${tenantId} and ${verdictChanges.sha256} = found.sha256 order by ${verdictChanges.seq} desc limit 1) end)) as found
    from found`;
}
