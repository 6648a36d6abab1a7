/**
 * The Worker's HOST_API_URL check (src/http/startup.ts): a deployed Worker whose host API is
 * missing or on loopback (a development value shipped by mistake) refuses the tenant routes with
 * 503 not_configured and says so once in its log; served from loopback (wrangler dev, npm start)
 * a loopback host API is the development stack's and is accepted.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { hostApiUrlProblem } from "../../src/http/startup";
import { callJson, callPlugin, uniqueTenant } from "../support/plugin";

const withHostApi = (HOST_API_URL: string | undefined) => ({ ...(env as Env), HOST_API_URL }) as Env;

describe("HOST_API_URL check", () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    ["unset", undefined],
    ["not a URL", "host.example.com"],
    ["not http(s)", "ftp://host.example.com"],
    ["loopback, the old wrangler.toml value", "http://127.0.0.1:8790"],
    ["localhost", "http://localhost:8790/"],
  ])("a deployed Worker with a HOST_API_URL %s answers tenant routes 503 not_configured", async (_name, url) => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const tenant = uniqueTenant("cfg");
    const r = await callJson("PUT", `/v1/tenants/${tenant}/enablement`, { enabled: true, bundles: ["endpoint-protection"] }, { env: withHostApi(url) });
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ error: "not_configured", message: expect.stringContaining("HOST_API_URL") });
    // Nothing was stored: the tenant's status, asked with the right configuration, is still not enabled.
    expect((await callJson("GET", `/v1/tenants/${tenant}/status`)).body.status).toBe("not_enabled");
    const logged = errors.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("HOST_API_URL is invalid"));
    expect(logged.length).toBeLessThanOrEqual(1);
    for (const line of logged) if (url) expect(line).not.toContain(url);
  });

  it("health and the manifest keep answering", async () => {
    const badEnv = withHostApi("http://127.0.0.1:8790");
    const { default: worker } = await import("../../src/index");
    const { createExecutionContext } = await import("cloudflare:test");
    for (const path of ["/healthz", "/v1/manifest"]) {
      const r = await worker.fetch(new Request(`https://plugin.test${path}`) as Parameters<typeof worker.fetch>[0], badEnv, createExecutionContext());
      expect(r.status).toBe(200);
    }
  });

  it("an unsigned call is still refused with 401 first", async () => {
    const r = await callPlugin("GET", `/v1/tenants/${uniqueTenant()}/status`, undefined, { signature: null, env: withHostApi(undefined) });
    expect(r.status).toBe(401);
  });

  it("a Worker served from loopback (wrangler dev, npm start) accepts a loopback host API", async () => {
    const r = await callJson("GET", `/v1/tenants/${uniqueTenant()}/status`, undefined, { env: withHostApi("http://127.0.0.1:8790"), origin: "http://127.0.0.1:8787" });
    expect(r.status).toBe(200);
    expect(hostApiUrlProblem(withHostApi("http://localhost:8790"), "http://localhost:8787/v1/x")).toBeUndefined();
  });

  it("a deployed Worker accepts its host API", () => {
    expect(hostApiUrlProblem(withHostApi("https://host.example.com/api"), "https://cynet-channel.example.workers.dev/v1/x")).toBeUndefined();
    expect(hostApiUrlProblem(withHostApi("https://127.0.0.1.nip.io"), "https://cynet-channel.example.workers.dev/")).toBeUndefined();
  });
});
