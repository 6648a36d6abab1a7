import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { callJson, enable, uniqueTenant } from "../support/plugin";
import { CLIENT_ID, connectForm, CynetWorld, OPERATOR, VIEWER, type FaultRule } from "../support/standins";

async function rows(sql: string, ...params: unknown[]) {
  return (await env.DB.prepare(sql).bind(...params).all<Record<string, unknown>>()).results;
}

/** Asserts a failed Connect left no trace but the enablement. */
async function expectNothingStored(tenantId: string) {
  expect(await rows("SELECT * FROM secrets WHERE tenant_id = ?", tenantId)).toEqual([]);
  const [tenant] = await rows("SELECT state, org_url, client_id, username FROM tenants WHERE id = ?", tenantId);
  expect(tenant).toEqual({ state: "inactive", org_url: null, client_id: null, username: null });
  const history = await rows("SELECT action FROM activation_history WHERE tenant_id = ?", tenantId);
  expect(history.map((h) => h.action)).toEqual(["enabled"]);
}

const UPSTREAM_MARKER = "SIMULATED-UPSTREAM-DETAIL";

describe("activation (Connect)", () => {
  let world: CynetWorld;
  let tenantId: string;
  let logged: string[];

  beforeEach(async () => {
    world = await new CynetWorld().setup();
    tenantId = uniqueTenant();
    logged = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      });
    }
  });

  afterEach(() => {
    vi.restoreAllMocks();
    expect(logged.join("\n")).not.toContain(OPERATOR.password);
  });

  it("is refused with 409 channel_not_enabled until a bundle with Cynet is assigned", async () => {
    const r = await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
    expect(r.status).toBe(409);
    expect(r.body.error).toBe("channel_not_enabled");
    expect(await rows("SELECT * FROM tenants WHERE id = ?", tenantId)).toEqual([]);
  });

  it("refuses enablement through a bundle that does not include Cynet", async () => {
    const r = await callJson("PUT", `/v1/tenants/${tenantId}/enablement`, { enabled: true, bundles: ["email-only"] });
    expect(r.status).toBe(400);
    expect(r.body.field).toBe("bundles");
  });

  it("connects with valid credentials: Active, settings normalized, only ciphertext stored", async () => {
    await enable(tenantId);
    const typedUrl = `${world.label.toUpperCase()}.cynet.com/#/dashboard`;
    const r = await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world, { orgUrl: typedUrl, clientId: ` ${CLIENT_ID} ` }));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      tenantId,
      status: "active",
      enabled: true,
      settings: { orgUrl: world.orgUrl, clientId: CLIENT_ID, username: OPERATOR.username },
      error: null,
    });
    expect(r.text).not.toContain(OPERATOR.password);

    const secrets = await rows("SELECT * FROM secrets WHERE tenant_id = ? ORDER BY kind", tenantId);
    expect(secrets.map((s) => s.kind)).toEqual(["password", "token"]);
    const dump = JSON.stringify(await rows("SELECT * FROM secrets")) + JSON.stringify(await rows("SELECT * FROM tenants")) + JSON.stringify(await rows("SELECT * FROM activation_history"));
    expect(dump).not.toContain(OPERATOR.password);
    expect(dump).not.toContain(btoa(OPERATOR.password));
    expect(secrets[0]).toMatchObject({ key_version: 1, expires_at: null });
    expect(Number(secrets[1]!.expires_at)).toBeGreaterThan(Date.now() + 49 * 60_000);

    const status = await callJson("GET", `/v1/tenants/${tenantId}/status`);
    expect(status.body).toMatchObject({ status: "active", settings: { orgUrl: world.orgUrl } });
    expect(status.text).not.toContain(OPERATOR.password);
    // One login, reused by the first sync; at least the Client ID probe read alerts.
    const { counters } = await world.state();
    expect(counters.token).toBe(1);
    expect(counters.alerts).toBeGreaterThanOrEqual(1);
  });

  const refusedByCynet: Array<[string, () => Record<string, string>, number, string, string, RegExp]> = [
    ["a wrong password", () => connectForm(world, { password: "not-the-password" }), 422, "invalid_credentials", "password", /rejected the username or password/],
    ["an unknown username", () => connectForm(world, { username: "nobody@acme.example" }), 422, "invalid_credentials", "password", /rejected the username or password/],
    ["a user without API permission", () => connectForm(world, VIEWER), 422, "missing_api_permission", "username", /may not use the API.*Operator role/],
    ["a Client ID Cynet refuses", () => connectForm(world, { clientId: "999999" }), 422, "invalid_client_id", "clientId", /Client ID 999999/],
  ];
  for (const [name, form, status, code, field, message] of refusedByCynet) {
    it(`answers ${status} ${code} for ${name}, and stores nothing`, async () => {
      await enable(tenantId);
      const r = await callJson("POST", `/v1/tenants/${tenantId}/activation`, form());
      expect(r.status).toBe(status);
      expect(r.body).toMatchObject({ error: code, field });
      expect(r.body.message).toMatch(message);
      expect(r.text).not.toContain(UPSTREAM_MARKER);
      await expectNothingStored(tenantId);
    });
  }

  const cynetFaults: Array<[string, FaultRule, string]> = [
    ["the token URL answers 404 (wrong base URL)", { endpoint: "token", status: 404 }, "cynet_unreachable"],
    ["the token URL answers 400", { endpoint: "token", status: 400 }, "cynet_unreachable"],
    ["Cynet redirects", { endpoint: "token", redirectTo: "https://evil.example/steal" }, "cynet_unreachable"],
    ["Cynet answers garbage", { endpoint: "token", malformed: true }, "cynet_unreachable"],
    ["Cynet fails with 503", { endpoint: "token", status: 503 }, "cynet_unavailable"],
    ["Cynet is rate limiting", { endpoint: "token", status: 429, retryAfterSeconds: 30 }, "cynet_unavailable"],
    ["the alerts read fails with 500", { endpoint: "alerts", status: 500 }, "cynet_unavailable"],
  ];
  for (const [name, rule, code] of cynetFaults) {
    it(`answers 502 ${code} when ${name}, never echoing Cynet's error body`, async () => {
      await enable(tenantId);
      await world.fault(rule);
      const r = await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
      expect(r.status).toBe(502);
      expect(r.body).toMatchObject({ error: code, field: "orgUrl" });
      expect(r.body.message).toContain(world.orgUrl);
      expect(r.text).not.toContain(UPSTREAM_MARKER);
      await expectNothingStored(tenantId);
    });
  }

  it("times out a Cynet that never answers: 502, nothing stored", async () => {
    await enable(tenantId);
    await world.fault({ endpoint: "token", delayMs: 20_000 });
    const r = await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ error: "cynet_unreachable", field: "orgUrl" });
    expect(r.body.message).toMatch(/did not answer in time/);
    await expectNothingStored(tenantId);
  }, 40_000);

  it("words a refused field with the label the Cynet Activation dialog shows, and still names the field", async () => {
    await enable(tenantId);
    const r = await callJson<{ error: string; message: string; field: string }>("POST", `/v1/tenants/${tenantId}/activation`, { ...connectForm(world), orgUrl: "acme.example.com" });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: "invalid_request", field: "orgUrl" });
    expect(r.body.message).toBe("Organization's URL in Cynet: Cynet addresses end in cynet.com, e.g. https://yourcompany.api.cynet.com.");
    const id = await callJson<{ message: string; field: string }>("POST", `/v1/tenants/${tenantId}/activation`, { ...connectForm(world), clientId: "12ab" });
    expect(id.body).toMatchObject({ field: "clientId", message: "Client ID: The Client ID is a number, e.g. 123456." });
  });

  const badFields: Array<[string, Record<string, unknown>, string]> = [
    ["orgUrl", { orgUrl: "acme.cynet.com.evil.io" }, "orgUrl"],
    ["orgUrl", { orgUrl: "http://127.0.0.1:8080" }, "orgUrl"],
    ["orgUrl", { orgUrl: 42 }, "orgUrl"],
    ["clientId", { clientId: "12ab" }, "clientId"],
    ["clientId", { clientId: "99999999999999999999" }, "clientId"],
    ["clientId", { clientId: "" }, "clientId"],
    ["username", { username: "   " }, "username"],
    ["password", { password: "" }, "password"],
    ["password", { password: "x".repeat(1025) }, "password"],
    ["an unknown field", { extra: true }, ""],
  ];
  for (const [name, patch, field] of badFields) {
    it(`answers 400 naming ${name} for ${JSON.stringify(patch).slice(0, 60)}, without calling Cynet`, async () => {
      await enable(tenantId);
      const r = await callJson("POST", `/v1/tenants/${tenantId}/activation`, { ...connectForm(world), ...patch });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe("invalid_request");
      if (field) expect(r.body.field).toBe(field);
      expect(r.text).not.toContain(OPERATOR.password);
      expect((await world.state()).counters.token ?? 0).toBe(0);
      await expectNothingStored(tenantId);
    });
  }

  it("answers 400 for a body that is not JSON, and 415 for another content type", async () => {
    await enable(tenantId);
    const notJson = await callJson("POST", `/v1/tenants/${tenantId}/activation`, "{not json");
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toBe("invalid_json");
    const form = await callJson("POST", `/v1/tenants/${tenantId}/activation`, "orgUrl=x", { contentType: "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
  });

  it("replaces the credentials in place on a second Connect and keeps the history", async () => {
    await enable(tenantId);
    expect((await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world))).status).toBe(200);
    const [first] = await rows("SELECT iv, ciphertext FROM secrets WHERE tenant_id = ? AND kind = 'password'", tenantId);
    expect((await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world))).status).toBe(200);
    const passwords = await rows("SELECT iv, ciphertext FROM secrets WHERE tenant_id = ? AND kind = 'password'", tenantId);
    expect(passwords).toHaveLength(1);
    expect(passwords[0]!.iv).not.toBe(first!.iv);
    const history = await rows("SELECT action, org_url, username FROM activation_history WHERE tenant_id = ? ORDER BY id", tenantId);
    expect(history.map((h) => h.action)).toEqual(["enabled", "connected", "reconnected"]);
  });

  it("deactivates: secret and cached token destroyed, status inactive, history kept", async () => {
    await enable(tenantId);
    const connected = await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
    expect(connected.status, connected.text + logged.join("\n")).toBe(200);
    const r = await callJson("DELETE", `/v1/tenants/${tenantId}/activation`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: "inactive", settings: null });
    expect(await rows("SELECT * FROM secrets WHERE tenant_id = ?", tenantId)).toEqual([]);
    const history = await rows("SELECT action FROM activation_history WHERE tenant_id = ? ORDER BY id", tenantId);
    expect(history.map((h) => h.action)).toEqual(["enabled", "connected", "deactivated"]);
  });

  it("keeps data but shows not_enabled and refuses Connect when the bundle is unassigned", async () => {
    await enable(tenantId);
    await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
    const off = await callJson("PUT", `/v1/tenants/${tenantId}/enablement`, { enabled: false, bundles: [] });
    expect(off.body).toMatchObject({ status: "not_enabled", enabled: false });
    expect((await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world))).status).toBe(409);
    expect(await rows("SELECT kind FROM secrets WHERE tenant_id = ?", tenantId)).toHaveLength(2);
    const on = await enable(tenantId);
    expect(on.body).toMatchObject({ status: "active" });
  });

  it("keeps tenants apart: B's routes neither show nor change A's settings", async () => {
    await enable(tenantId);
    await callJson("POST", `/v1/tenants/${tenantId}/activation`, connectForm(world));
    const other = uniqueTenant("b");
    const bStatus = await callJson("GET", `/v1/tenants/${other}/status`);
    expect(bStatus.body).toMatchObject({ tenantId: other, status: "not_enabled", settings: null });
    expect(bStatus.text).not.toContain(world.label);
    expect((await callJson("DELETE", `/v1/tenants/${other}/activation`)).status).toBe(404);
    await enable(other);
    expect((await callJson("GET", `/v1/tenants/${other}/status`)).body).toMatchObject({ status: "inactive", settings: null });
    expect((await callJson("GET", `/v1/tenants/${tenantId}/status`)).body).toMatchObject({ status: "active", settings: { orgUrl: world.orgUrl } });
  });

  it("refuses malformed tenant ids with 400", async () => {
    for (const bad of ["..%2F..%2Fetc", "a".repeat(65), "-leading", "sp%20ace", "%61cme"]) {
      const r = await callJson("GET", `/v1/tenants/${bad}/status`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error).toBe("invalid_tenant_id");
    }
  });
});
