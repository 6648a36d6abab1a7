/**
 * The verdict lookup as one SQL statement. Kept apart from the route (and free of Worker
 * imports, hence the .ts specifier) so `npm run bench` runs this very statement in raw SQLite
 * next to the Worker.
 */
import { sql } from "drizzle-orm";
import { z } from "zod";
import { jsonList } from "../storage/json-list.ts";
import { detections, fileHashes } from "../storage/schema.ts";

/** The statement's single value, parsed: [hash as asked, first detection (ms), distinct endpoints] per malicious hash. */
export const FoundHashes = z.array(z.tuple([z.string(), z.number(), z.number()]));

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
 * covering (tenant, sha256, detected_at, host) index. The answer is one JSON value (column
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
    found(h, first, endpoints) as (
      select target.h, min(${detections.detectedAt}), count(distinct coalesce(${detections.hostName}, ${detections.hostIp}, ''))
      from target cross join ${detections} on ${detections.tenantId} = ${tenantId} and ${detections.sha256} = target.sha256
      group by target.h)
    select json_group_array(json_array(h, first, endpoints)) as found from found`;
}
