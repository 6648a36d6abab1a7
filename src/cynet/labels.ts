/** Cynet's numeric codes (cynet-api.md) and their words, for the rule, events, notes and IR requests. */

/** Cynet's alert severities. */
export const CYNET_SEVERITY = { Information: 1, Low: 2, Medium: 3, High: 4, Critical: 5, Unknown: 99 } as const;
/** Cynet's alert statuses. */
export const CYNET_STATUS = { Open: 0, Pending: 1, Ignored: 2, Closed: 3 } as const;

const SEVERITIES = new Map<number, string>(Object.entries(CYNET_SEVERITY).map(([label, code]) => [code, label]));
const STATUSES = new Map<number, string>(Object.entries(CYNET_STATUS).map(([label, code]) => [code, label]));

/** "High" for 4; "Unknown" for anything Cynet did not document. */
export function severityLabel(code: number | null): string {
  return code === null ? "Unknown" : (SEVERITIES.get(code) ?? "Unknown");
}

/** "Open" for 0; null when Cynet sent no status. */
export function statusLabel(code: number | null): string | null {
  return code === null ? null : (STATUSES.get(code) ?? `Status ${code}`);
}

/** The worst of some severities, Unknown (99) ranking below Information; null when none is known. */
export function worstSeverity(codes: Iterable<number | null>): number | null {
  let worst = 0;
  for (const code of codes) if (code !== null && code !== CYNET_SEVERITY.Unknown && code > worst) worst = code;
  return worst || null;
}
