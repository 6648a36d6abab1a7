/**
 * One severity story for everything the host shows about a file (docs/operations.md, Severity).
 * Two scales meet here: Cynet's (Information to Critical, labels.ts) and the host's (low to
 * critical, host/schemas.ts). The event's severity is the manifest's (high: the product calls
 * every malicious file Cynet reports high, whatever Cynet's own rating); Cynet's rating is
 * shown beside it in Cynet's words, never mapped onto the host's scale; and an IR request's
 * priority is the event's severity, raised to critical when Cynet rates the file Critical. The
 * event details, the note and the IR request all say it with the same sentence.
 *
 * @example
 * fileSeverity([CYNET_SEVERITY.Information, CYNET_SEVERITY.Critical]);
 * // { cynet: "Critical", event: "high", priority: "critical",
 * //   text: "Cynet severity: Critical; event severity: high" }
 */
import { CYNET_SEVERITY, severityLabel, worstSeverity } from "../cynet/labels";
import type { HostSeverity } from "../host/schemas";
import { MALICIOUS_FILE_EVENT } from "../manifest";

/** How the host is told how bad a file is. */
export interface FileSeverity {
  /** Cynet's rating in its own words: the worst of the detections named ("Unknown" when none is rated). */
  cynet: string;
  /** The event's severity, as the manifest declares it. */
  event: HostSeverity;
  /** An IR request's priority: the event's severity, critical when Cynet rates the file Critical. */
  priority: HostSeverity;
  /** The sentence the event details, the note and the IR request all carry. */
  text: string;
}

/** The severities of a file from the Cynet severity codes of the detections a delivery names. */
export function fileSeverity(codes: Iterable<number | null>): FileSeverity {
  const worst = worstSeverity(codes);
  const cynet = severityLabel(worst);
  const event = MALICIOUS_FILE_EVENT.severity;
  // Never below the event's severity: the IR team must not see a request rated under its event.
  const priority: HostSeverity = worst === CYNET_SEVERITY.Critical ? "critical" : event;
  return { cynet, event, priority, text: `Cynet severity: ${cynet}; event severity: ${event}` };
}
