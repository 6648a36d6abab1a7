/**
 * What Cynet's answers to a remediation request mean for the request, in words an admin acts
 * on (cynet-api.md, "Response actions" and "Errors and limits"): one place, so the consumer and
 * docs/operations.md say the same thing.
 */
import { CynetError } from "../cynet/transport";
import { CYNET_TIMEOUT_MS } from "../cynet/transport";
import { isTransientCynetFailure } from "../cynet/retry";
import type { ActionKind } from "./catalog";
import { RESPONSE_ACTIONS } from "./catalog";

/** Tries of one host's request while Cynet answers 409, 429 or 5xx, or cannot be reached: then it fails. */
export const ACTION_SEND_MAX_ATTEMPTS = 6;
/** Wait before the second try; it doubles each time (30 s, 1, 2, 4, 8 min: about a quarter of an hour in all). */
export const ACTION_SEND_BACKOFF_BASE_SECONDS = 30;
/** Longest wait between two tries, whatever Retry-After says: a request an analyst is watching is not parked for hours. */
export const ACTION_SEND_BACKOFF_CAP_SECONDS = 15 * 60;

/** How a request ended when it did not simply succeed. */
export type SendOutcome =
  | { kind: "retry"; code: string; message: string; delaySeconds: number }
  | { kind: "failed"; code: string; message: string; /** Cynet would answer every host of the action the same way. */ all: boolean }
  | { kind: "unknown"; code: string; message: string };

/** The wait before try `attempts + 1`: doubling from the base, capped, at least Cynet's Retry-After. */
export function sendDelaySeconds(attempts: number, retryAfterSeconds?: number): number {
  const exponential = Math.min(ACTION_SEND_BACKOFF_CAP_SECONDS, ACTION_SEND_BACKOFF_BASE_SECONDS * 2 ** Math.max(0, attempts - 1));
  return Math.min(ACTION_SEND_BACKOFF_CAP_SECONDS, Math.max(exponential, Math.ceil(retryAfterSeconds ?? 0)));
}

/** The message for a Cynet user without remediation rights: the same for every host and every poll. */
export const PERMISSION_MESSAGE = "The Cynet user lacks remediation permission (Operator role with remediation rights): give the channel's Cynet user that right, then ask again. Cynet answered HTTP 403; nothing was done.";
/** The message for a Cynet without host isolation. */
export const ISOLATION_UNSUPPORTED_MESSAGE = "This Cynet (on-premise) does not support host isolation: isolate or release the host in Cynet's console. Cynet answered HTTP 404; nothing was done.";
/** The message when Cynet refuses the stored credentials even after a new login. */
export const CREDENTIALS_MESSAGE = "Cynet rejected the channel's username or password: connect the channel again, then ask again. Nothing was done.";

/** What a failed remediation call means for its host, after `attempts` tries (this one included). */
export function sendOutcome(err: CynetError, action: ActionKind, attempts: number): SendOutcome {
  const hostAction = RESPONSE_ACTIONS[action].targets === "host";
  if (err.failure === "timeout") {
    return {
      kind: "unknown",
      code: "cynet_no_answer",
      message: `Cynet did not answer within ${CYNET_TIMEOUT_MS / 1000} s, so the request may or may not have been made: check this host in Cynet's console before asking again. It is not sent again.`,
    };
  }
  if (err.failure === "malformed") {
    return { kind: "unknown", code: "cynet_answer_unreadable", message: "Cynet answered, but not with the remediation items the plugin can follow: check this host in Cynet's console. It is not sent again." };
  }
  // Asked as unknown: the guard's false branch would otherwise narrow `err` away for the checks below.
  if (isTransientCynetFailure(err as unknown)) {
    const what = err.status === undefined ? "could not be reached" : `answered HTTP ${err.status}`;
    if (attempts >= ACTION_SEND_MAX_ATTEMPTS) {
      return { kind: "failed", code: "cynet_unavailable", message: `Cynet ${what} on all ${attempts} tries, so the request was not made: ask again later.`, all: false };
    }
    return { kind: "retry", code: "cynet_busy", message: `Cynet ${what}; asked again shortly (try ${attempts} of ${ACTION_SEND_MAX_ATTEMPTS}).`, delaySeconds: sendDelaySeconds(attempts, err.retryAfterSeconds) };
  }
  if (err.status === 401) return { kind: "failed", code: "cynet_credentials_rejected", message: CREDENTIALS_MESSAGE, all: true };
  if (err.status === 403) return { kind: "failed", code: "remediation_not_permitted", message: PERMISSION_MESSAGE, all: true };
  if (err.status === 404 && hostAction) return { kind: "failed", code: "isolation_not_supported", message: ISOLATION_UNSUPPORTED_MESSAGE, all: true };
  if (err.status === 404) return { kind: "failed", code: "cynet_not_found", message: "Cynet does not know this file or host (HTTP 404); nothing was done.", all: false };
  return { kind: "failed", code: "cynet_refused", message: `Cynet refused the request (HTTP ${err.status ?? "error"}); nothing was done.`, all: false };
}

/** Why a request left "sending" without a recorded answer is not sent again. */
export const INTERRUPTED_MESSAGE =
  "The request was being sent to Cynet when the plugin was interrupted, before Cynet's answer was recorded: whether Cynet acted is not known. Check this host in Cynet's console (Remediation) before asking again. It is not sent again, so it is never made twice.";

/** Why requests still pending were not sent when the channel stopped. */
export const CHANNEL_STOPPED_MESSAGE = "The Cynet channel was deactivated or stopped before this request was sent; nothing was done.";
