import { Hono } from "hono";
import { faultRuleSchema } from "../shared/faults";
import { parseBody } from "../shared/http";
import { HOST_ENDPOINTS, REPLAYED_SEARCHES, duplicatesCounter, type HostDeps } from "./api";
import { seedScansSchema } from "./schemas";
import type { RecordKind } from "./store";

const hostFaultRuleSchema = faultRuleSchema(HOST_ENDPOINTS);

/** The dev host's control API (`/__host/tenants/:tenantId/...`), for one tenant's Durable Object. */
export function hostControl({ store, faults }: HostDeps): Hono {
  const app = new Hono().basePath("/__host/tenants/:tenantId");
  // `?limit=0` answers the counts alone: a million-event listing is more JSON than one string may hold.
  const listing = (kind: RecordKind, limit: string | undefined) => ({
    duplicatesRefused: store.count(duplicatesCounter(kind)),
    total: store.countRecords(kind),
    records: limit === "0" ? [] : store.records(kind),
  });

  app.put("/scans", async (c) => {
    const { scans } = await parseBody(c.req.raw, seedScansSchema);
    for (const scan of scans) store.upsertScan(scan);
    return c.json({ seeded: scans.length });
  });
  app.get("/scans", (c) =>
    c.json({ scans: store.scans().map((s) => ({ ...s, notes: store.records("note", s.scanId) })), replayedSearches: store.count(REPLAYED_SEARCHES) }),
  );
  app.get("/events", (c) => {
    const { records, duplicatesRefused, total } = listing("event", c.req.query("limit"));
    return c.json({ events: records, total, duplicatesRefused });
  });
  app.get("/notes", (c) => {
    const { records, duplicatesRefused, total } = listing("note", c.req.query("limit"));
    return c.json({ notes: records, total, duplicatesRefused });
  });
  app.get("/ir-requests", (c) => {
    const { records, duplicatesRefused, total } = listing("ir-request", c.req.query("limit"));
    return c.json({ irRequests: records, total, duplicatesRefused });
  });

  app.post("/faults", async (c) => {
    faults.add(await parseBody(c.req.raw, hostFaultRuleSchema));
    store.saveFaults(faults.entries());
    return c.json({ faults: faults.entries() }, 201);
  });
  app.get("/faults", (c) => c.json({ faults: faults.entries() }));
  app.delete("/faults", (c) => {
    const cleared = faults.clear();
    store.saveFaults(faults.entries());
    return c.json({ cleared });
  });

  app.delete("/", (c) => {
    store.wipe();
    faults.clear();
    return c.json({ wiped: true });
  });
  return app;
}
