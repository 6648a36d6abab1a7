import { describe, expect, it } from "vitest";
import wranglerToml from "../../wrangler.toml?raw";
import rawManifest from "../../plugin.manifest.json";
import { ActivationRequest } from "../../src/activation/schemas";
import { WithActor } from "../../src/audit/actor";
import { manifest, MALICIOUS_FILE_EVENT } from "../../src/manifest";
import { PluginManifest } from "../../src/manifest/schema";
import { RESPONSE_ACTIONS } from "../../src/actions/catalog";
import { ACTION_KINDS } from "../../src/storage/schema";
import { callPlugin } from "../support/plugin";

describe("plugin.manifest.json", () => {
  it("matches its schema", () => {
    expect(PluginManifest.safeParse(rawManifest).success).toBe(true);
  });

  it("declares the cynet channel, its bundles and the Connect form as the admin sees it", () => {
    expect(manifest.channel).toMatchObject({ id: "cynet", name: "Cynet" });
    expect(manifest.bundles.length).toBeGreaterThan(0);
    expect(manifest.activation.title).toBe("Cynet Activation");
    expect(manifest.activation.submitLabel).toBe("Connect");
    const byName = Object.fromEntries(manifest.activation.fields.map((f) => [f.name, f]));
    expect(byName.orgUrl?.label).toBe("Organization's URL in Cynet");
    expect(byName.orgUrl?.help).toContain(".api.");
    expect(byName.clientId?.label).toBe("Client ID");
    expect(byName.clientId?.help).toContain("123456");
    expect(byName.username?.label).toBe("Cynet Username");
    expect(byName.username?.help).toMatch(/Operator role/);
    expect(byName.username?.help).toMatch(/dedicated/);
    expect(byName.password).toMatchObject({ label: "Password", secret: true, type: "password" });
    expect(manifest.activation.fields.filter((f) => f.secret).map((f) => f.name)).toEqual(["password"]);
  });

  it("declares the event the code emits", () => {
    expect(MALICIOUS_FILE_EVENT).toMatchObject({ type: "Malicious File in Endpoint", severity: "high" });
  });

  it("declares every response action POST …/actions takes, as the code performs it", () => {
    expect(manifest.actions.map((a) => a.id)).toEqual([...ACTION_KINDS]);
    for (const a of manifest.actions) {
      const { label, targets, confirmation, description } = RESPONSE_ACTIONS[a.id];
      expect(a).toEqual({ id: a.id, label, targets, confirmation, description });
    }
    expect(manifest.actions.filter((a) => !a.confirmation).map((a) => a.id)).toEqual(["verify_file"]);
  });

  it("has the same activation fields as the activation route validates", () => {
    // The body's other member is the signed actor (host contract §2): the host fills it, not the dialog.
    const formFields = Object.keys(ActivationRequest.shape).filter((name) => !(name in WithActor.shape));
    expect(formFields).toHaveLength(Object.keys(ActivationRequest.shape).length - 1);
    expect(manifest.activation.fields.map((f) => f.name).sort()).toEqual(formFields.sort());
  });

  it("has the same sync schedule as wrangler.toml's cron trigger", () => {
    const crons = /\[triggers\][^[]*?crons\s*=\s*\[([^\]]*)\]/.exec(wranglerToml)?.[1];
    expect(crons, "wrangler.toml has a [triggers] crons entry").toBeDefined();
    const schedules = [...crons!.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(schedules).toEqual([manifest.sync.schedule]);
  });

  it("is served unsigned at GET /v1/manifest", async () => {
    const response = await callPlugin("GET", "/v1/manifest", undefined, { signature: null });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(manifest);
  });
});

describe("docs/plugin.manifest.schema.json", () => {
  it("is served unsigned where the served manifest's $schema points, as JSON equal to the committed file", async () => {
    const served = await callPlugin("GET", "/v1/manifest", undefined, { signature: null });
    const { $schema } = (await served.json()) as { $schema?: string };
    expect($schema, "the manifest names its schema").toBeTypeOf("string");
    // Resolved as a client resolves it: against the URL the manifest came from (callPlugin's origin).
    const schemaUrl = new URL($schema!, "https://plugin.test/v1/manifest");
    expect(schemaUrl.origin).toBe("https://plugin.test");
    const response = await callPlugin("GET", schemaUrl.pathname + schemaUrl.search, undefined, { signature: null });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const committed = (await import("../../docs/plugin.manifest.schema.json")).default;
    expect(await response.json()).toEqual(committed);
  });

  it("is what the manifest's $schema names in the repository too", () => {
    expect(new URL(rawManifest.$schema, "file:///repo/plugin.manifest.json").href).toBe("file:///repo/docs/plugin.manifest.schema.json");
  });

  it("is the JSON Schema generated from the zod schema (run `npm run manifest:schema` after changing it)", async () => {
    const committed = (await import("../../docs/plugin.manifest.schema.json")).default;
    const { manifestJsonSchema } = await import("../../src/manifest/json-schema");
    expect(committed).toEqual(JSON.parse(JSON.stringify(manifestJsonSchema())));
  });
});
