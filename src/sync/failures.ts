/** What a failed sync means for the tenant, in words an admin can act on. */
import { CynetError } from "../cynet/transport";
import { SecretsError } from "../storage/secrets";

/** A run that kept reading full pages past MAX_PAGES_PER_RUN: Cynet is ignoring Offset or Limit. */
export class RunawayPagingError extends Error {
  static readonly code = "cynet_paging_runaway";
  override name = "RunawayPagingError";
}

export type SyncFailure =
  /** Stops polling: the admin must connect again. */
  | { fatal: true; code: string; message: string }
  /** Backs off across ticks; credentials are fine. */
  | { fatal: false; code: string; message: string; retryAfterSeconds?: number };

/** Sorts an error thrown during a sync into fatal (needs the admin) or transient (back off). */
export function classifySyncError(err: unknown): SyncFailure {
  if (err instanceof SecretsError) {
    return { fatal: true, code: "credentials_unreadable", message: "The stored Cynet credentials cannot be read (the encryption key changed): connect again." };
  }
  if (err instanceof RunawayPagingError) {
    return { fatal: false, code: RunawayPagingError.code, message: "Cynet kept returning full pages far past any real backlog; the run was stopped and the next one starts over." };
  }
  if (!(err instanceof CynetError)) {
    return { fatal: false, code: "internal_error", message: "The sync hit an unexpected error; it will be retried." };
  }
  if (err.failure === "http" && err.status === 401) {
    return { fatal: true, code: "invalid_credentials", message: "Cynet rejected the username or password: connect again with valid credentials." };
  }
  if (err.failure === "http" && err.status === 403) {
    return {
      fatal: true,
      code: "missing_api_permission",
      message: "Cynet refused access (HTTP 403): the user lost its API permission or the Client ID is no longer valid. Give the user the Operator role with API access and connect again.",
    };
  }
  const retry = err.retryAfterSeconds;
  switch (err.failure) {
    case "timeout":
      return { fatal: false, code: "cynet_timeout", message: "Cynet did not answer in time; the sync will retry." };
    case "unreachable":
      return { fatal: false, code: "cynet_unreachable", message: "Cynet could not be reached; the sync will retry." };
    case "malformed":
    case "too_large":
    case "redirect":
      return { fatal: false, code: "cynet_bad_answer", message: "Cynet answered with data the channel could not read; the sync will retry." };
    case "http":
      if (err.status === 429) return { fatal: false, code: "cynet_rate_limited", message: "Cynet is rate limiting the channel (HTTP 429); the sync will retry later.", retryAfterSeconds: retry };
      if (err.status === 409) return { fatal: false, code: "cynet_busy", message: "Cynet reported a concurrency conflict (HTTP 409); the sync will retry later.", retryAfterSeconds: retry };
      return { fatal: false, code: "cynet_error", message: `Cynet answered HTTP ${err.status}; the sync will retry later.`, retryAfterSeconds: retry };
  }
}
