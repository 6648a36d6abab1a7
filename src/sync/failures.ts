/** What a failed sync means for the tenant, in words an admin can act on. */
import { CynetError } from "../cynet/transport";
import { SecretsError } from "../storage/secrets";

/** A full page of alerts all returned earlier in the same invocation: Cynet is ignoring Offset. */
export class OffsetIgnoredError extends Error {
  static readonly code = "cynet_offset_ignored";
  override name = "OffsetIgnoredError";
  constructor(
    /** The Offset asked for when the repeat came back. */
    readonly offset: number,
    /** The Offset of the page first seen with these alerts. */
    readonly firstSeenAt: number,
  ) {
    super(`alerts at Offset ${offset} were already returned at Offset ${firstSeenAt}`);
  }
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
  if (err instanceof OffsetIgnoredError) {
    return {
      fatal: false,
      code: OffsetIgnoredError.code,
      message:
        `Cynet is ignoring the Offset parameter of /api/alerts/bulk: asked for Offset=${err.offset}, it returned only alerts it had already returned at Offset=${err.firstSeenAt}. ` +
        "Paging cannot go on, so this run stopped where it was and will be tried again later. Forward this message to Cynet support.",
    };
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
