/**
 * Lets Node load the project's Worker-side TypeScript (dev/, src/) as the bundler does, so the
 * benchmark can run the Cynet simulator's world generator and the plugin's own helpers in Node:
 * - an extensionless relative import (`./world`) resolves to the `.ts` file next to it, or to
 *   the folder's `index.ts` (`../manifest`);
 * - a project `.json` file imports as JSON without an import attribute, as the bundler allows;
 * - project `.ts` files are transformed, not only stripped, since dev/ and src/ use TypeScript
 *   that has no plain-JavaScript form (constructor parameter properties in World, for one),
 *   which Node's default type stripping refuses.
 *
 * Registering is a side effect of importing this module. Modules that need it must be imported
 * dynamically afterwards (a static import graph is resolved before any of it runs), or the
 * process started with `node --import ./scripts/lib/ts-hooks.ts`.
 */
import { existsSync, readFileSync } from "node:fs";
import { registerHooks, stripTypeScriptTypes } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const projectRoot = pathToFileURL(resolve(import.meta.dirname, "../..")).href;
const RELATIVE = /^\.\.?\//;
const HAS_EXTENSION = /\.[cm]?[jt]sx?$|\.json$/;

/** Whether a module URL is one of the project's own TypeScript files (not a dependency's). */
const isProjectTs = (url: string) => url.startsWith(projectRoot) && url.endsWith(".ts") && !url.includes("/node_modules/");

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (RELATIVE.test(specifier) && !HAS_EXTENSION.test(specifier) && parent !== undefined && isProjectTs(parent)) {
      const file = `${specifier}.ts`;
      return nextResolve(existsSync(new URL(file, parent)) ? file : `${specifier}/index.ts`, context);
    }
    if (specifier.endsWith(".json") && parent !== undefined && isProjectTs(parent)) {
      return nextResolve(specifier, { ...context, importAttributes: { ...context.importAttributes, type: "json" } });
    }
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    if (url.startsWith(projectRoot) && url.endsWith(".json")) return nextLoad(url, { ...context, importAttributes: { ...context.importAttributes, type: "json" } });
    if (!isProjectTs(url)) return nextLoad(url, context);
    const source = readFileSync(new URL(url), "utf8");
    return { format: "module", source: stripTypeScriptTypes(source, { mode: "transform", sourceUrl: url }), shortCircuit: true };
  },
});
