import { Hono, type Context } from "hono";
import type { FaultBook } from "../shared/faults";
import { InputError, errorBody, parseBody, validate } from "../shared/http";
import {
  HASH_CHARS, eventBatchSchema, eventSchema, idempotencyKeySchema, irRequestSchema, noteSchema, scanSearchSchema,
  type HashType,
} from "./schemas";
import type { HostStore, RecordKind } from "./store";

/** The host API endpoints, as fault rules name them. */
export const HOST_ENDPOINTS = ["events", "events/batch", "scans/search", "notes", "ir-requests"] as const;
type HostEndpoint = (typeof HOST_ENDPOINTS)[number];

/** What the routes of one tenant work on. */
export interface HostDeps {
  store: HostStore;
  faults: FaultBook;
}

/** Name of the counter of searches answered from an earlier answer to their key. */
export const REPLAYED_SEARCHES = "replayed:scans/search";

/** Name of the counter of refused duplicate deliveries of a record kind. */
export const duplicatesCounter = (kind: RecordKind): string => `duplicates:${kind}`;

const newId = (prefix: string): string => `${prefix}_${crypto.randomUUID()}`;
const HASH_TYPES = Object.keys(HASH_CHARS) as HashType[];

/** The host API a plugin calls (`/v1/tenants/:tenantId/...`), for one tenant's Durable Object. */
export function hostApi({ store, faults }: HostDeps): Hono {
  const app = new Hono();

  async function fault(endpoint: HostEndpoint): Promise<Response | null> {
    const answer = await faults.apply(endpoint);
    store.saveFaults(faults.entries());
    return answer;
  }

  function idempotencyKey(c: Context): string {
    const header = c.req.header("idempotency-key");
    if (header === undefined) throw new InputError("Idempotency-Key", "Idempotency-Key: header required on every POST");
    return validate(idempotencyKeySchema, header, "Idempotency-Key");
  }

  /** The first answer to `key`, counted `times` on `counter`; 422 if the key was used elsewhere. */
  function replay(key: string, endpoint: HostEndpoint, counter: string, times = 1): Response | null {
    const prior = store.reply(key);
    if (prior === null) return null;
    if (prior.endpoint !== endpoint) {
      const message = `Idempotency-Key already used for ${prior.endpoint}`;
      return Response.json(errorBody("idempotency_key_reused", message, "Idempotency-Key"), { status: 422 });
    }
    store.bump(counter, times);
    return Response.json(prior.body, { status: 200 });
  }

  function created(key: string, endpoint: HostEndpoint, body: Record<string, string>): Response {
    store.saveReply(key, { endpoint, status: 201, body });
    return Response.json(body, { status: 201 });
  }

  app.post("/v1/tenants/:tenantId/events", async (c) => {
    const refused = await fault("events");
    if (refused !== null) return refused;
    const key = idempotencyKey(c);
    const body = await parseBody(c.req.raw, eventSchema);
    const replayed = replay(key, "events", duplicatesCounter("event"));
    if (replayed !== null) return replayed;
    const earlier = store.recordId("event", key);
    if (earlier !== null) {
      // The same key already came in as a batch item: same event, not a second one.
      store.bump(duplicatesCounter("event"));
      return c.json({ eventId: earlier }, 200);
    }
    const eventId = newId("evt");
    store.insertRecord("event", eventId, key, null, { eventId, idempotencyKey: key, via: "single", receivedAt: new Date().toISOString(), ...body });
    return created(key, "events", { eventId });
  });

  app.post("/v1/tenants/:tenantId/events/batch", async (c) => {
    const refused = await fault("events/batch");
    if (refused !== null) return refused;
    const key = idempotencyKey(c);
    const { events } = await parseBody(c.req.raw, eventBatchSchema);
    const replayed = replay(key, "events/batch", duplicatesCounter("event"), events.length);
    if (replayed !== null) return replayed;
    const receivedAt = new Date().toISOString();
    const results = events.map(({ idempotencyKey: itemKey, ...event }) => {
      const earlier = store.recordId("event", itemKey);
      if (earlier !== null) {
        store.bump(duplicatesCounter("event"));
        return { idempotencyKey: itemKey, eventId: earlier, duplicate: true };
      }
      const eventId = newId("evt");
      const record = { eventId, idempotencyKey: itemKey, batchIdempotencyKey: key, via: "batch", receivedAt, ...event };
      store.insertRecord("event", eventId, itemKey, null, record);
      return { idempotencyKey: itemKey, eventId, duplicate: false };
    });
    store.saveReply(key, { endpoint: "events/batch", status: 200, body: { results } });
    return c.json({ results }, 200);
  });

  app.post("/v1/tenants/:tenantId/scans/search", async (c) => {
    const refused = await fault("scans/search");
    if (refused !== null) return refused;
    // The contract holds Idempotency-Key on every POST, searches included: a repeated key gets the first answer back.
    const key = idempotencyKey(c);
    const body = await parseBody(c.req.raw, scanSearchSchema);
    const replayed = replay(key, "scans/search", REPLAYED_SEARCHES);
    if (replayed !== null) return replayed;
    const matches = HASH_TYPES.flatMap((hashType) => {
      const wanted = [...new Set(body[hashType].map((h) => h.toLowerCase()))];
      return store.scansWith(hashType, wanted).map((scan) => ({
        scanId: scan.scanId, hash: scan[hashType] ?? "", hashType, fileName: scan.fileName, scannedAt: scan.scannedAt,
      }));
    });
    store.saveReply(key, { endpoint: "scans/search", status: 200, body: { matches } });
    return c.json({ matches }, 200);
  });

  app.post("/v1/tenants/:tenantId/scans/:scanId/notes", async (c) => {
    const refused = await fault("notes");
    if (refused !== null) return refused;
    const key = idempotencyKey(c);
    const body = await parseBody(c.req.raw, noteSchema);
    const scanId = c.req.param("scanId");
    const replayed = replay(key, "notes", duplicatesCounter("note"));
    if (replayed !== null) return replayed;
    if (!store.hasScan(scanId)) return c.json(errorBody("scan_not_found", `no scan ${scanId}`, "scanId"), 404);
    const noteId = newId("note");
    store.insertRecord("note", noteId, key, scanId, { noteId, scanId, idempotencyKey: key, receivedAt: new Date().toISOString(), ...body });
    return created(key, "notes", { noteId });
  });

  app.post("/v1/tenants/:tenantId/ir-requests", async (c) => {
    const refused = await fault("ir-requests");
    if (refused !== null) return refused;
    const key = idempotencyKey(c);
    const body = await parseBody(c.req.raw, irRequestSchema);
    const replayed = replay(key, "ir-requests", duplicatesCounter("ir-request"));
    if (replayed !== null) return replayed;
    const requestId = newId("ir");
    const record = { requestId, idempotencyKey: key, receivedAt: new Date().toISOString(), ...body };
    store.insertRecord("ir-request", requestId, key, body.scanId, record);
    return created(key, "ir-requests", { requestId });
  });

  return app;
}
