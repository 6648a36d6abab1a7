/** `npm run manifest:schema`: writes the manifest's JSON Schema, generated from its zod schema. */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { manifestJsonSchema } from "../src/manifest/json-schema.ts";

const out = join(resolve(import.meta.dirname, ".."), "docs/plugin.manifest.schema.json");
writeFileSync(out, `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out}`);
