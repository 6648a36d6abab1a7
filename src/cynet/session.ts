/**
 * Cynet access tokens, cached sealed in D1 so a sync does not log in on every run
 * (cynet-api.md: tokens last about 60 minutes, no refresh token).
 */
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../storage/db";
import { open, seal, SecretsError, type KeyRing, type Sealed } from "../storage/secrets";
import { dropTokenWithoutPasswordStatement, findSecret, upsertSecret } from "../storage/tenants";
import { login, type CynetSession } from "./client";
import type { CynetTarget } from "./transport";

/** How long a token is reused: 10 minutes short of Cynet's ~60-minute lifetime (our choice). */
export const TOKEN_CACHE_MS = 50 * 60 * 1000;
/** Additional-data purposes, so a sealed token cannot be opened as a password or the other way round. */
export const PASSWORD_PURPOSE = "password";
export const TOKEN_PURPOSE = "token";

/** Seals an access token for the tenant's cache. */
export function sealToken(ring: KeyRing, tenantId: string, accessToken: string): Promise<Sealed> {
  return seal(ring, tenantId, TOKEN_PURPOSE, accessToken);
}

/**
 * A statement caching a sealed token until TOKEN_CACHE_MS from now. Kept synchronous on
 * purpose: Drizzle queries are thenables, so returning one from an async function would run it.
 */
export function cacheTokenStatement(db: Database, tenantId: string, sealed: Sealed, now: Date): BatchItem<"sqlite"> {
  return upsertSecret(db, tenantId, "token", sealed, now, new Date(now.getTime() + TOKEN_CACHE_MS));
}

/** A tenant's connection settings as the session needs them. */
export interface SessionTenant {
  id: string;
  orgUrl: string;
  clientId: string;
  username: string;
}

/** Logs in with the stored password and caches the new token; throws CynetError or SecretsError. */
export async function loginWithStoredPassword(db: Database, ring: KeyRing, tenant: SessionTenant, target: CynetTarget, now: Date): Promise<CynetSession> {
  const sealedPassword = await findSecret(db, tenant.id, "password");
  if (!sealedPassword) throw new SecretsError("No stored password for this tenant.");
  const password = await open(ring, tenant.id, PASSWORD_PURPOSE, sealedPassword);
  const accessToken = await login(target, tenant.username, password);
  // A deactivation while Cynet answered destroyed the password: the token is not kept either.
  await db.batch([cacheTokenStatement(db, tenant.id, await sealToken(ring, tenant.id, accessToken), now), dropTokenWithoutPasswordStatement(db, tenant.id)]);
  return { target, accessToken, clientId: tenant.clientId };
}

/** The cached token while it is fresh, else a new login. */
export async function openSession(db: Database, ring: KeyRing, tenant: SessionTenant, target: CynetTarget, now: Date): Promise<CynetSession> {
  const cached = await findSecret(db, tenant.id, "token");
  if (cached?.expiresAt && cached.expiresAt.getTime() > now.getTime()) {
    try {
      return { target, accessToken: await open(ring, tenant.id, TOKEN_PURPOSE, cached), clientId: tenant.clientId };
    } catch {
      // A token sealed under a key since rotated out is just a cache miss.
    }
  }
  return loginWithStoredPassword(db, ring, tenant, target, now);
}
