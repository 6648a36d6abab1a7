/** Reads and writes of tenant rows, their sealed secrets and their activation history. */
import { and, eq, notExists, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "./db";
import { activationHistory, secrets, tenants } from "./schema";
import type { Sealed } from "./secrets";

export type TenantRow = typeof tenants.$inferSelect;
export type HistoryInsert = typeof activationHistory.$inferInsert;
/** What a sealed secret of a tenant is: its Cynet password or its cached token. */
export type SecretKind = (typeof secrets.$inferSelect)["kind"];

/** The tenant's row, or undefined when the host never told us about it. */
export async function findTenant(db: Database, tenantId: string): Promise<TenantRow | undefined> {
  return db.query.tenants.findFirst({ where: eq(tenants.id, tenantId) });
}

/** Statements recording the host's enablement call (creating the tenant row on first sight), for the batch that records it. */
export function saveEnablementStatements(db: Database, tenantId: string, enabled: boolean, bundles: string[], now: Date): BatchItem<"sqlite">[] {
  return [
    db
      .insert(tenants)
      .values({ id: tenantId, enabled, bundles, createdAt: now, updatedAt: now })
      .onConflictDoUpdate({ target: tenants.id, set: { enabled, bundles, updatedAt: now } }),
    db.insert(activationHistory).values({ tenantId, action: enabled ? "enabled" : "disabled", detail: bundles.join(","), at: now }),
  ];
}

/** Statements that replace (or create) one sealed secret of a tenant in place. */
export function upsertSecret(db: Database, tenantId: string, kind: SecretKind, sealed: Sealed, now: Date, expiresAt: Date | null): BatchItem<"sqlite"> {
  const values = { keyVersion: sealed.keyVersion, iv: sealed.iv, ciphertext: sealed.ciphertext, expiresAt, updatedAt: now };
  return db
    .insert(secrets)
    .values({ tenantId, kind, ...values })
    .onConflictDoUpdate({ target: [secrets.tenantId, secrets.kind], set: values });
}

/** Statement that destroys one sealed secret of a tenant. */
export function deleteSecret(db: Database, tenantId: string, kind: SecretKind): BatchItem<"sqlite"> {
  return db.delete(secrets).where(and(eq(secrets.tenantId, tenantId), eq(secrets.kind, kind)));
}

/**
 * Statement that drops the tenant's cached token when its password is gone: run after a token
 * is cached from a login that began before a deactivation destroyed the credentials, it keeps
 * that login from leaving a token behind.
 */
export function dropTokenWithoutPasswordStatement(db: Database, tenantId: string): BatchItem<"sqlite"> {
  const password = db.select({ one: sql`1` }).from(secrets).where(and(eq(secrets.tenantId, tenantId), eq(secrets.kind, "password")));
  return db.delete(secrets).where(and(eq(secrets.tenantId, tenantId), eq(secrets.kind, "token"), notExists(password)));
}

/** The sealed secret of one kind, with its expiry, or undefined. */
export async function findSecret(db: Database, tenantId: string, kind: SecretKind) {
  return db.query.secrets.findFirst({ where: and(eq(secrets.tenantId, tenantId), eq(secrets.kind, kind)) });
}

/** Statement that appends one line to the activation history. */
export function appendHistory(db: Database, entry: HistoryInsert): BatchItem<"sqlite"> {
  return db.insert(activationHistory).values(entry);
}
