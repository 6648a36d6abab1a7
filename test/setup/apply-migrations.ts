/**
 * Runs before every test file inside workerd: applies the same migrations/ files wrangler
 * applies, to every database (each holds the same schema), and fails any test whose Worker
 * made an outbound call nobody planned for.
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, expect } from "vitest";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
await applyD1Migrations(env.DB_2, env.TEST_MIGRATIONS);

afterEach(async () => {
  const audit = await fetch("https://outbound.test/unexpected");
  const { unexpected } = (await audit.json()) as { unexpected: string[] };
  expect(unexpected, "outbound calls no stand-in serves").toEqual([]);
});
