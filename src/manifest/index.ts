/**
 * The parsed plugin.manifest.json. Parsing at load time means a malformed manifest stops the
 * Worker from starting instead of misbehaving later.
 */
import raw from "../../plugin.manifest.json";
import schemaDocument from "../../docs/plugin.manifest.schema.json";
import { PluginManifest } from "./schema";

/** The manifest, validated. */
export const manifest: PluginManifest = PluginManifest.parse(raw);

/** The event type every detection becomes at the host. */
export const MALICIOUS_FILE_EVENT = (() => {
  const event = manifest.events.find((e) => e.type === "Malicious File in Endpoint");
  if (!event) throw new Error("plugin.manifest.json does not declare the Malicious File in Endpoint event");
  return event;
})();

/** The event type each endpoint a convicted attachment is found on becomes at the host (src/findings). */
export const MALICIOUS_ATTACHMENT_EVENT = (() => {
  const event = manifest.events.find((e) => e.type === "Malicious Attachment on Endpoint");
  if (!event) throw new Error("plugin.manifest.json does not declare the Malicious Attachment on Endpoint event");
  return event;
})();

/** Ids of the bundles that include the channel. */
export const CHANNEL_BUNDLE_IDS: ReadonlySet<string> = new Set(manifest.bundles.map((b) => b.id));

/** Where the Worker serves the manifest, unsigned (contract §2). */
export const MANIFEST_PATH = "/v1/manifest";

/**
 * Where the Worker serves the manifest's JSON Schema: the manifest's `$schema`
 * ("./docs/plugin.manifest.schema.json") resolved against MANIFEST_PATH, so the manifest as
 * served names a schema that answers, and in the repository the same `$schema` names the file.
 */
export const MANIFEST_SCHEMA_PATH = "/v1/docs/plugin.manifest.schema.json";

/** The manifest's JSON Schema as committed (docs/plugin.manifest.schema.json; a test holds it to the zod schema). */
export const manifestSchemaDocument = schemaDocument;
