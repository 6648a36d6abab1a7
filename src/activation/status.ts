/** The channel status the host shows on the Enabled Channels row. */
import type { TenantRow } from "../storage/tenants";
import type { ChannelStatus } from "./schemas";

/** Builds the status answer for a tenant row (or for a tenant never enabled). */
export function channelStatus(tenantId: string, row: TenantRow | undefined): ChannelStatus {
  if (!row) {
    return { tenantId, status: "not_enabled", enabled: false, bundles: [], settings: null, activatedAt: null, error: null };
  }
  const connected = row.state !== "inactive" && row.orgUrl !== null && row.clientId !== null && row.username !== null;
  return {
    tenantId,
    status: row.enabled ? row.state : "not_enabled",
    enabled: row.enabled,
    bundles: row.bundles,
    settings: connected ? { orgUrl: row.orgUrl!, clientId: row.clientId!, username: row.username! } : null,
    activatedAt: row.activatedAt ? row.activatedAt.toISOString() : null,
    error:
      row.state === "error" && row.errorCode && row.errorMessage
        ? { code: row.errorCode, message: row.errorMessage, at: (row.errorAt ?? row.updatedAt).toISOString() }
        : null,
  };
}
