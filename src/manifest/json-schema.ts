/** The manifest's JSON Schema, generated from the zod schema (docs/plugin.manifest.schema.json holds a copy). */
import { z } from "zod";
import { PluginManifest } from "./schema.ts";

/** JSON Schema (draft 2020-12) of plugin.manifest.json. */
export function manifestJsonSchema() {
  return z.toJSONSchema(PluginManifest, { target: "draft-2020-12", io: "input" });
}
