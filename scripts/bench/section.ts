/** What a bench section is, and what the driver (scripts/bench.ts) hands each one. */
import type { FastCynet } from "./fast-cynet.ts";
import type { DevHost, Plugin } from "./harness.ts";

/** The plugin over the verdict section's stored detections, started once for the sections that read them. */
export interface VerdictStore {
  plugin: Plugin;
  tenant: string;
  rows: number;
  seedSeconds: number;
}

export interface BenchContext {
  host: DevHost;
  cynet: FastCynet;
  /** The state folder of the stand-ins (the dev host's Durable Object storage). */
  state: string;
  /** Starts a plugin on a fresh local state (one at a time; the section disposes it). */
  startPlugin(name: string): Promise<Plugin>;
  /** The plugin over VERDICT_ROWS stored detections, seeded on first use and kept for the next section that asks. */
  verdictStore(): Promise<VerdictStore>;
  /** Disposes the verdict store's plugin, if one was started. */
  releaseVerdictStore(): Promise<void>;
  /** Data of the sections run before this one in this run (by name), for the cost table. */
  results: Map<string, unknown>;
}

export interface SectionOutput {
  /** Markdown under the section's heading: what was measured, the table, the targets. */
  body: string;
  /** Figures another section (the cost table) reads; stored in BENCHMARKS.md with the section. */
  data: unknown;
}

export interface Section {
  /** The BENCH_ONLY name. */
  name: string;
  title: string;
  /** Environment variables that change what the section measures (printed in its Reproduce line when set). */
  env: string[];
  run(ctx: BenchContext): Promise<SectionOutput>;
}

/** A number from the environment, or the default; a malformed value stops the run rather than measuring something else. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
  return n;
}

/** A markdown table of rows (columns in the first row's key order). */
export function table(rows: Array<Record<string, unknown>>): string {
  const keys = Object.keys(rows[0] ?? {});
  return [`| ${keys.join(" | ")} |`, `|${keys.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${keys.map((k) => String(r[k])).join(" | ")} |`)].join("\n");
}

/** `n` with thousands separators. */
export const int = (n: number) => Math.round(n).toLocaleString("en");
/** A ratio as "1.23×". */
export const times = (n: number) => `${n.toFixed(2)}×`;
