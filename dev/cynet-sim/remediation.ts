/**
 * Cynet's remediation endpoints (cynet-api.md, "Response actions"), simulated: file actions take
 * JSON `{sha256, host}`, host isolation takes form data `host=`, each answers the remediation
 * items it created, and `GET /api/file/remediation/{id}` tells where an item stands.
 *
 * Time here is the item's own: each status read moves it one poll on. A normal item reads "In
 * progress" once, then its final words; a slow host's item (world option `slowRemediationHosts`)
 * waits SLOW_POLLS_PER_STEP polls at each step. The outcome follows the world's alerts and what
 * was done before: a file action on a host none of the file's alerts name, or where the file was
 * quarantined or deleted already, ends "File does not exist" (Cynet's words); a restore of a file
 * not in quarantine ends "File is not in quarantine".
 * World switches: `remediationPermission: false` answers 403 (a user without remediation
 * rights), `onPremise: true` answers 404 to host isolation. Every call is logged for the tests
 * (`GET /__sim/worlds/:label/remediation/calls`), with what it was answered.
 */
import { Hono, type Context } from "hono";
import { z } from "zod";
import { alertFileHash } from "./alert";
import { getWorld, worldLabel, type World } from "./world";
import { cynetError, refuse } from "./api";
import { validate } from "../shared/http";

/** Polls a slow item waits at each step. */
export const SLOW_POLLS_PER_STEP = 4;
/** First remediation item id of a world: Cynet's look like 13592. */
export const FIRST_REMEDIATION_ID = 13_500;
/** Most calls a world logs: far more than a test makes; the oldest go first. */
const MAX_LOGGED_CALLS = 10_000;

/** The seven remediation calls, by the last segment of their path. */
const FILE_ACTIONS = { quarantine: "File quarantined", kill: "Process killed", delete: "File deleted", unquarantine: "File restored from quarantine", verify: "File verified: present on the host" } as const;
const HOST_ACTIONS = { isolate: "Host isolated", unisolate: "Host released from isolation" } as const;
type RemediationAction = keyof typeof FILE_ACTIONS | keyof typeof HOST_ACTIONS;

/** Statuses the simulator gives (Cynet publishes no list; these follow the one public example, 24 "File does not exist"). */
const STATUS = { pending: 0, inProgress: 1, succeeded: 2, fileMissing: 24, hostUnknown: 25, notQuarantined: 26 } as const;

/** One remediation item. */
export interface RemediationItem {
  id: number;
  action: RemediationAction;
  host: string;
  sha256: string | null;
  polls: number;
  slow: boolean;
  outcome: { status: number; statusInfo: string };
}

/** One call received, as the control route lists it. */
export interface RemediationCall {
  at: string;
  action: RemediationAction;
  host: string | null;
  sha256: string | null;
  /** The HTTP status it was answered with. */
  answered: number;
  items: number[];
}

/** The remediation state of one world. */
export class RemediationBook {
  readonly items = new Map<number, RemediationItem>();
  readonly calls: RemediationCall[] = [];
  /** (host, file) pairs quarantined or deleted by an earlier item: the file is no longer where it was. */
  readonly #quarantined = new Set<string>();
  readonly #deleted = new Set<string>();
  #nextId = FIRST_REMEDIATION_ID;

  log(call: RemediationCall): void {
    this.calls.push(call);
    if (this.calls.length > MAX_LOGGED_CALLS) this.calls.shift();
  }

  create(action: RemediationAction, host: string, sha256: string | null, world: World): RemediationItem {
    const item: RemediationItem = { id: this.#nextId++, action, host, sha256, polls: 0, slow: world.config.slowRemediationHosts.some((h) => h.toLowerCase() === host.toLowerCase()), outcome: this.#outcome(action, host, sha256, world) };
    this.items.set(item.id, item);
    return item;
  }

  /** Reads an item's status, moving it one poll on. */
  read(item: RemediationItem): { id: number; status: number; statusInfo: string } {
    item.polls += 1;
    const step = item.slow ? Math.ceil(item.polls / SLOW_POLLS_PER_STEP) : item.polls + 1;
    if (step <= 1) return { id: item.id, status: STATUS.pending, statusInfo: "Pending: waiting for the endpoint to connect" };
    if (step === 2) return { id: item.id, status: STATUS.inProgress, statusInfo: "In progress" };
    return { id: item.id, ...item.outcome };
  }

  /** How an item ends (see the module's comment), recording what a successful quarantine, restore or delete changed. */
  #outcome(action: RemediationAction, host: string, sha256: string | null, world: World): { status: number; statusInfo: string } {
    const onHost = (hostName: string | null | undefined) => (hostName ?? "").toLowerCase() === host.toLowerCase();
    if (sha256 === null) {
      const known = world.alerts.some((a) => onHost(a.HostName));
      return known ? { status: STATUS.succeeded, statusInfo: HOST_ACTIONS[action as keyof typeof HOST_ACTIONS] } : { status: STATUS.hostUnknown, statusInfo: "Host not found" };
    }
    const key = `${host.toLowerCase()}\n${sha256}`;
    const succeeded = { status: STATUS.succeeded, statusInfo: FILE_ACTIONS[action as keyof typeof FILE_ACTIONS] };
    if (action === "unquarantine") {
      if (!this.#quarantined.delete(key)) return { status: STATUS.notQuarantined, statusInfo: "File is not in quarantine" };
      return succeeded;
    }
    const present = !this.#quarantined.has(key) && !this.#deleted.has(key) && world.alerts.some((a) => onHost(a.HostName) && alertFileHash(a) === sha256);
    if (!present) return { status: STATUS.fileMissing, statusInfo: "File does not exist" };
    if (action === "quarantine") this.#quarantined.add(key);
    if (action === "delete") this.#deleted.add(key);
    return succeeded;
  }
}

const fileBodySchema = z.object({ sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "expected 64 hex characters"), host: z.string().min(1).nullable() });
const hostBodySchema = z.object({ host: z.string().min(1) });

/** Applies the world's faults to a remediation endpoint, then its refusals; logs the call with its answer. */
async function answer(c: Context, endpoint: "remediation" | "remediation_status", serve: (world: World) => Promise<Response> | Response, call?: Omit<RemediationCall, "at" | "answered" | "items">): Promise<Response> {
  const world = getWorld(worldLabel(c.req.raw), Date.now());
  world.counters[endpoint] += 1;
  const response = (await world.faults.apply(endpoint)) ?? refuse(c, world) ?? (await serve(world));
  if (call) {
    let items: number[] = [];
    if (response.ok) items = ((await response.clone().json()) as { remediation_items?: number[] }).remediation_items ?? [];
    world.remediation.log({ ...call, at: new Date().toISOString(), answered: response.status, items });
  }
  return response;
}

/** The remediation routes (`/api/file/remediation/...`, `/api/host/remediation/...`). */
export const remediationApi = new Hono();

for (const action of Object.keys(FILE_ACTIONS) as Array<keyof typeof FILE_ACTIONS>) {
  remediationApi.post(`/api/file/remediation/${action}`, async (c) => {
    const body = validate(fileBodySchema, await c.req.json().catch(() => null));
    return answer(
      c,
      "remediation",
      (world) => {
        if (!world.config.remediationPermission) return cynetError(403, "forbidden", "user lacks remediation permission");
        // `"host": null` acts on every endpoint with the file: a connector must never send it, so the simulator refuses it loudly.
        if (body.host === null) return cynetError(400, "host_required", "host: null would act on every endpoint; the simulator refuses it");
        return Response.json({ remediation_items: [world.remediation.create(action, body.host, body.sha256.toLowerCase(), world).id] });
      },
      { action, host: body.host, sha256: body.sha256.toLowerCase() },
    );
  });
}

for (const action of Object.keys(HOST_ACTIONS) as Array<keyof typeof HOST_ACTIONS>) {
  remediationApi.post(`/api/host/remediation/${action}`, async (c) => {
    const form = await c.req.parseBody().catch(() => ({}));
    const { host } = validate(hostBodySchema, form);
    return answer(
      c,
      "remediation",
      (world) => {
        if (world.config.onPremise) return cynetError(404, "not_found", "host isolation is not available on this Cynet");
        if (!world.config.remediationPermission) return cynetError(403, "forbidden", "user lacks remediation permission");
        return Response.json({ remediation_items: [world.remediation.create(action, host, null, world).id] });
      },
      { action, host, sha256: null },
    );
  });
}

remediationApi.get("/api/file/remediation/:id", (c) =>
  answer(c, "remediation_status", (world) => {
    if (!world.config.remediationPermission) return cynetError(403, "forbidden", "user lacks remediation permission");
    const item = world.remediation.items.get(Number(c.req.param("id")));
    if (item === undefined) return cynetError(404, "not_found", "no remediation item with this id");
    return Response.json(world.remediation.read(item));
  }),
);
