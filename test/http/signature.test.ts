import { describe, expect, it } from "vitest";
import { callJson, callPlugin, uniqueTenant } from "../support/plugin";

const now = () => Math.floor(Date.now() / 1000);

describe("host signature (contract §2)", () => {
  const path = () => `/v1/tenants/${uniqueTenant()}/status`;

  it("accepts a correctly signed call", async () => {
    const r = await callJson("GET", path());
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("not_enabled");
  });

  const refusals: Array<[string, (p: string) => Promise<Response>]> = [
    ["missing signature", (p) => callPlugin("GET", p, undefined, { signature: null })],
    ["wrong signature", (p) => callPlugin("GET", p, undefined, { signature: `v1=${"0".repeat(64)}` })],
    ["signed with another secret", (p) => callPlugin("GET", p, undefined, { secret: "not-the-shared-secret" })],
    ["wrong scheme prefix", (p) => callPlugin("GET", p, undefined, { signature: `v2=${"a".repeat(64)}` })],
    ["wrong length", (p) => callPlugin("GET", p, undefined, { signature: `v1=${"a".repeat(63)}` })],
    ["non-numeric timestamp", (p) => callPlugin("GET", p, undefined, { timestamp: Number.NaN })],
    ["expired (301 s old)", (p) => callPlugin("GET", p, undefined, { timestamp: now() - 301 })],
    ["from the future (301 s ahead)", (p) => callPlugin("GET", p, undefined, { timestamp: now() + 301 })],
    ["replayed an hour later", (p) => callPlugin("GET", p, undefined, { timestamp: now() - 3600 })],
    [
      "tampered body",
      (p) =>
        callPlugin("PUT", p.replace("/status", "/enablement"), { enabled: true, bundles: ["endpoint-protection"] }, {
          signedBody: JSON.stringify({ enabled: false, bundles: [] }),
        }),
    ],
  ];

  for (const [name, send] of refusals) {
    it(`refuses a call with ${name}: 401 JSON`, async () => {
      const response = await send(path());
      expect(response.status).toBe(401);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body.error).toBe("invalid_signature");
      expect(typeof body.message).toBe("string");
    });
  }

  it("binds the signature to the path: a signature for one tenant does not open another", async () => {
    const a = `/v1/tenants/${uniqueTenant("a")}/status`;
    const b = `/v1/tenants/${uniqueTenant("b")}/status`;
    const ts = String(now());
    const { hmacHex, signingInput } = await import("../../src/http/signature");
    const { env } = await import("cloudflare:workers");
    const sig = await hmacHex(env.HOST_SIGNING_SECRET, signingInput(ts, "GET", a, ""));
    const response = await callPlugin("GET", b, undefined, { timestamp: Number(ts), signature: `v1=${sig}` });
    expect(response.status).toBe(401);
  });

  it("accepts a timestamp just inside the window", async () => {
    expect((await callPlugin("GET", path(), undefined, { timestamp: now() - 290 })).status).toBe(200);
  });

  it("refuses an oversized body with 413 before parsing it", async () => {
    const huge = "x".repeat(300 * 1024);
    const r = await callJson("PUT", `/v1/tenants/${uniqueTenant()}/enablement`, huge);
    expect(r.status).toBe(413);
    expect(r.body.error).toBe("body_too_large");
  });

  it("leaves /healthz and /v1/manifest unsigned, and nothing else", async () => {
    expect((await callPlugin("GET", "/healthz", undefined, { signature: null })).status).toBe(200);
    expect((await callPlugin("GET", "/v1/manifest", undefined, { signature: null })).status).toBe(200);
    expect((await callPlugin("GET", `/v1/tenants/${uniqueTenant()}/status`, undefined, { signature: null })).status).toBe(401);
  });
});
