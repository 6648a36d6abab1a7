/** Per-invocation metering (observability/meter.ts) counts the queries of every database the Worker holds tenants in, sessions included. */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { metered } from "../../src/observability/meter";

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs `work` metered and returns the invocation's metrics line. */
async function meter(testEnv: Env, work: (e: Env & { DB_2?: D1Database }) => Promise<void>) {
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  await metered("probe", testEnv, work);
  const metrics = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "invocation metrics");
  expect(metrics).toHaveLength(1);
  return metrics[0]!;
}

describe("invocation metering", () => {
  it("counts queries on DB, on every other listed database, and in their sessions, batches statement by statement", async () => {
    const two = { ...env, TENANT_DATABASES: "DB,DB_2" } as Env;
    const metrics = await meter(two, async (e) => {
      await e.DB.prepare("SELECT 1").all();
      await e.DB_2!.prepare("SELECT 1").all();
      const session = e.DB_2!.withSession("first-unconstrained");
      await session.prepare("SELECT count(*) FROM tenants").all();
      await session.batch([session.prepare("SELECT 1"), session.prepare("SELECT 2")]);
      expect(session.getBookmark()).toMatch(/^[0-9a-f]{8}-/);
    });
    expect(metrics).toMatchObject({ kind: "probe", d1Queries: 5 });
  });

  it("meters the databases TENANT_DATABASES lists: DB alone by default", async () => {
    const metrics = await meter(env as Env, async (e) => {
      await e.DB.prepare("SELECT 1").all();
      await e.DB_2!.prepare("SELECT 1").all();
    });
    expect(metrics).toMatchObject({ d1Queries: 1 });
  });
});
