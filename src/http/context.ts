/** The Hono environment every plugin route runs in. */
import type { Context } from "hono";
import type { Env } from "../env";
import type { z } from "zod";
import type { SignedVariables } from "./signature";

export type AppEnv = { Bindings: Env; Variables: SignedVariables };
export type AppContext = Context<AppEnv>;

/** One route's contract. */
export interface RouteSpec {
  method: "get" | "post" | "put" | "delete";
  /** Hono-style path, e.g. `/v1/tenants/:tenantId/status`. */
  path: string;
  summary: string;
  /** Whether the host must sign the call (contract §2). */
  signed: boolean;
  /**
   * The JSON body. An empty body is read as `{}`, so the body is optional exactly when this
   * schema accepts `{}` (`bodyIsOptional`); the document says which.
   */
  body?: z.ZodType;
  /** What error messages call the body, e.g. "The activation form"; "The request body" when not set. */
  bodyName?: string;
  /** The labels a person saw for the body's fields (a dialog the host renders): error messages name those. */
  fieldLabels?: Readonly<Record<string, string>>;
  /** The query string, one property per parameter. */
  query?: z.ZodObject;
  /** Request headers the route reads, one property per header, named in lower case. */
  headers?: z.ZodObject;
  /** The answers, by status: what each means, its JSON body, and the headers it carries (by lower-case name). */
  responses: Record<number, { description: string; schema?: z.ZodType; headers?: Readonly<Record<string, { description: string; schema: z.ZodType }>> }>;
}

/** A declared route and the handler that serves it. */
export interface Route {
  spec: RouteSpec;
  handler: (c: AppContext) => Promise<Response> | Response;
}
