/**
 * The person the dev host acts for. It has no sign-in: whoever uses its pages is the tenant's
 * admin, and every state-changing call it makes names them in the signed body
 * (host-contract.md §2, `"actor"`), so the plugin's audit trail says who did it.
 */

/** The admin of a tenant, as the dev host names them to the plugin. */
export function devAdmin(tenantId: string): { id: string; name: string } {
  return { id: `admin@${tenantId}.example`, name: "Dev Host Admin" };
}

/** A JSON body for the plugin with the admin as its actor. */
export function withActor(tenantId: string, body: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...body, actor: devAdmin(tenantId) });
}

/**
 * A body a page's script sent (the activation form), with the admin as its actor when it is a
 * JSON object; anything else goes to the plugin as it came, for the plugin to refuse in its words.
 */
export function rawWithActor(tenantId: string, raw: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return raw;
  }
  return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? withActor(tenantId, parsed as Record<string, unknown>) : raw;
}
