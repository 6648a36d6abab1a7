/** Cynet's numeric codes in words (cynet-api.md), for events, notes and IR requests. */

const SEVERITIES: Record<number, string> = { 1: "Information", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 99: "Unknown" };
const STATUSES: Record<number, string> = { 0: "Open", 1: "Pending", 2: "Ignored", 3: "Closed" };

/** "High" for 4; "Unknown" for anything Cynet did not document. */
export function severityLabel(code: number | null): string {
  return code === null ? "Unknown" : (SEVERITIES[code] ?? "Unknown");
}

/** "Open" for 0; null when Cynet sent no status. */
export function statusLabel(code: number | null): string | null {
  return code === null ? null : (STATUSES[code] ?? `Status ${code}`);
}
