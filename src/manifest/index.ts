/**
 * The parsed plugin.manifest.json. Parsing at load time means a malformed manifest stops the
 * Worker from starting instead of misbehaving later.
 */
import raw from "../../plugin.manifest.json";
import { PluginManifest } from "./schema";

/** The manifest, validated. */
export const manifest: PluginManifest = PluginManifest.parse(raw);

/** The event type every detection becomes at the host. */
export const MALICIOUS_FILE_EVENT = (() => {
  const event = manifest.events.find((e) => e.type === "Malicious File in Endpoint");
  if (!event) throw new Error("plugin.manifest.json does not declare the Malicious File in Endpoint event");
  return event;
})();

/** Ids of the bundles that include the channel. */
export const CHANNEL_BUNDLE_IDS: ReadonlySet<string> = new Set(manifest.bundles.map((b) => b.id));
