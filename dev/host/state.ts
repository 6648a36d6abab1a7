import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";
import { FaultBook } from "../shared/faults";
import { errorBody, jsonOnError } from "../shared/http";
import { hostApi } from "./api";
import { hostControl } from "./control";
import { HostStore } from "./store";

/** One tenant of the dev host: its records, scans, replies and fault rules, in SQLite. */
export class HostState extends DurableObject {
  readonly #app = new Hono();

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    const store = new HostStore(ctx.storage.sql);
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
}
