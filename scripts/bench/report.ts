/**
 * BENCHMARKS.md as blocks, one per section, between markers the bench writes:
 *
 *   <!-- bench:begin backfill -->
 *   ## Backfill …            (heading, Reproduce line, table, targets)
 *   <!-- bench:data {...} -->  (the figures the cost table reads)
 *   <!-- bench:end backfill -->
 *
 * A run replaces the blocks of the sections it ran and keeps the others as they were (each says
 * when it was measured), so `BENCH_ONLY=<section>` refreshes one table without losing the rest.
 */
import { existsSync, readFileSync } from "node:fs";

const BLOCK = /<!-- bench:begin ([a-z0-9-]+) -->\n[\s\S]*?<!-- bench:end \1 -->/g;
const DATA = /<!-- bench:data (.*) -->/;

/** The blocks of an existing BENCHMARKS.md (markers included), by section name; none when there is no file or no markers. */
export function readBlocks(path: string): Map<string, string> {
  const blocks = new Map<string, string>();
  if (!existsSync(path)) return blocks;
  for (const m of readFileSync(path, "utf8").matchAll(BLOCK)) blocks.set(m[1]!, m[0]);
  return blocks;
}

/** The stored figures of a block (JSON, to be checked by whoever reads them), if any. */
export function blockData(block: string | undefined): unknown {
  const m = block === undefined ? null : DATA.exec(block);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as unknown;
  } catch {
    return undefined;
  }
}

/** One section's block: its markdown and its figures (kept on one line; `-->` cannot occur in JSON of numbers and plain strings, and is escaped anyway). */
export function makeBlock(name: string, markdown: string, data: unknown): string {
  const json = JSON.stringify(data ?? null).replace(/-->/g, "--\\u003e");
  return `<!-- bench:begin ${name} -->\n${markdown.trim()}\n\n<!-- bench:data ${json} -->\n<!-- bench:end ${name} -->`;
}

/** The whole file: the header, every section's block in order (the ones not run and never measured say how to measure them), the footer. */
export function assemble(header: string, order: Array<{ name: string; title: string }>, blocks: Map<string, string>, footer: string): string {
  const parts = order.map(({ name, title }) => {
    const block = blocks.get(name);
    return block ?? makeBlock(name, `## ${title}\n\nNot measured yet: \`BENCH_ONLY=${name} npm run bench\`.`, null);
  });
  return `${header.trim()}\n\n${parts.join("\n\n")}\n\n${footer.trim()}\n`;
}
