/** The Hono environment every plugin route runs in. */
import type { Context } from "hono";
import type { Env } from "../env";
import type { RouteSpec } from "./routes";
import type { SignedVariables } from "./signature";

export type AppEnv = { Bindings: Env; Variables: SignedVariables };
export type AppContext = Context<AppEnv>;

/** A declared route and the handler that serves it. */
export interface Route {
  spec: RouteSpec;
  handler: (c: AppContext) => Promise<Response> | Response;
}
