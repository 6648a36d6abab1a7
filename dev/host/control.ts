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
  const listing = (kind: RecordKind) => ({ duplicatesRefused: store.count(duplicatesCounter(kind)), records: store.records(kind) });

  app.put("/scans", async (c) => {
    const { scans } = await parseBody(c.req.raw, seedScansSchema);
    for (const scan of scans) store.upsertScan(scan);
    return c.json({ seeded: scans.length });
  });
  app.get("/scans", (c) =>
    c.json({ scans: store.scans().map((s) => ({ ...s, notes: store.records("note", s.scanId) })), replayedSearches: store.count(REPLAYED_SEARCHES) }),
  );
  app.get("/events", (c) => {
    const { records, duplicatesRefused } = listing("event");
    return c.json({ events: records, duplicatesRefused });
  });
  app.get("/notes", (c) => {
    const { records, duplicatesRefused } = listing("note");
    return c.json({ notes: records, duplicatesRefused });
  });
  app.get("/ir-requests", (c) => {
    const { records, duplicatesRefused } = listing("ir-request");
    return c.json({ irRequests: records, duplicatesRefused });
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
