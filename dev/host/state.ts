import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";
import { FaultBook } from "../shared/faults";
import { errorBody, jsonOnError } from "../shared/http";
import { hostApi } from "./api";
import { hostControl } from "./control";
import type { SeededScan } from "./schemas";
import { HostStore, type TenantProfile } from "./store";

/** A stored record (event, note, IR request) as the pages read it. */
export type HostRecord = Record<string, unknown>;
/** A scan with its notes, oldest note first. */
export type ScanWithNotes = SeededScan & { notes: HostRecord[] };
/** What the Settings page needs of a tenant. */
export interface TenantView {
  profile: TenantProfile | null;
  assignedBundles: string[];
}

const asRecords = (rows: unknown[]): HostRecord[] => rows.filter((r): r is HostRecord => typeof r === "object" && r !== null && !Array.isArray(r));

/** One tenant of the dev host: its records, scans, replies and fault rules, in SQLite. */
export class HostState extends DurableObject {
  readonly #app = new Hono();
  readonly #store: HostStore;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    const store = new HostStore(ctx.storage.sql);
    this.#store = store;
    const deps = { store, faults: new FaultBook(store.loadFaults()) };
    this.#app.route("/", hostApi(deps));
    this.#app.route("/", hostControl(deps));
    this.#app.notFound((c) => c.json(errorBody("not_found", "no such route"), 404));
    this.#app.onError(jsonOnError);
  }

  /** Serves a request the worker forwarded to this tenant. */
  override async fetch(request: Request): Promise<Response> {
    return this.#app.fetch(request);
  }

  /** Seeds the tenant once: its profile and scans (kept as they are if the tenant already exists). */
  seed(tenantId: string, displayName: string, scans: SeededScan[]): { seeded: boolean; scansAdded: number } {
    if (this.#store.profile() !== null) return { seeded: false, scansAdded: 0 };
    let scansAdded = 0;
    this.ctx.storage.transactionSync(() => {
      for (const scan of scans) if (this.#store.insertScanIfMissing(scan)) scansAdded += 1;
      this.#store.saveProfile({ tenantId, displayName, seededAt: new Date().toISOString() });
    });
    return { seeded: true, scansAdded };
  }

  /** Records that the dev host's scanner convicted a scan's file; the scan as it now stands, or null when there is no such scan. */
  convict(scanId: string, at: string): SeededScan | null {
    const scan = this.#store.scans().find((s) => s.scanId === scanId);
    if (scan === undefined) return null;
    const convicted = { ...scan, convictedAt: scan.convictedAt ?? at };
    this.#store.upsertScan(convicted);
    return convicted;
  }

  /** The tenant's profile and assigned bundles. */
  view(): TenantView {
    return { profile: this.#store.profile(), assignedBundles: this.#store.assignedBundles() };
  }

  /** Assigns or unassigns a bundle; returns the assigned bundles after the change. */
  setBundleAssigned(bundleId: string, assigned: boolean): string[] {
    this.#store.setBundleAssigned(bundleId, assigned, new Date().toISOString());
    return this.#store.assignedBundles();
  }

  /** Every event the plugin delivered, in arrival order. */
  events(): HostRecord[] {
    return asRecords(this.#store.records("event"));
  }

  /** Every scan with its notes. */
  scansWithNotes(): ScanWithNotes[] {
    return this.#store.scans().map((scan) => ({ ...scan, notes: asRecords(this.#store.records("note", scan.scanId)) }));
  }

  /** The IR team's request queue, in arrival order. */
  irRequests(): HostRecord[] {
    return asRecords(this.#store.records("ir-request"));
  }
}
