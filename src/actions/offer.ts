/**
 * The response actions an IR request offers for its file and endpoints (host contract §2): the
 * line its description ends with and the `actions` member of its evidence, from the catalog, so
 * the IR team sees what it can ask Cynet for without leaving the request.
 */
import { FILE_ACTIONS, HOST_ACTIONS, RESPONSE_ACTIONS } from "./catalog";
import { MAX_HOSTS_PER_ACTION } from "./limits";

/** What an IR request says about the actions available for `sha256` on `hosts` (host names as Cynet spells them). */
export function availableActions(sha256: string, hosts: string[]) {
  const named = [...new Set(hosts)].slice(0, MAX_HOSTS_PER_ACTION);
  const labels = (ids: readonly (keyof typeof RESPONSE_ACTIONS)[]) => ids.map((id) => RESPONSE_ACTIONS[id].label.toLowerCase()).join(", ");
  const text =
    named.length === 0
      ? "No endpoint is named by host, so no Cynet response action can be offered for it."
      : `Cynet response actions available for this file on ${named.join(", ")}: ${labels(FILE_ACTIONS)}; for those hosts: ${labels(HOST_ACTIONS)}.`;
  return {
    text,
    evidence: named.length === 0 ? { file: [], host: [], hosts: [], sha256 } : { file: [...FILE_ACTIONS], host: [...HOST_ACTIONS], hosts: named, sha256 },
  };
}
