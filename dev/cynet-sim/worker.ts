import { Hono } from "hono";
import { SIMULATED_DETAIL_MARKER } from "../shared/faults";
import { InputError, errorBody, jsonOnError } from "../shared/http";
import { cynetApi } from "./api";
import { control } from "./control";
import { remediationApi } from "./remediation";

const app = new Hono();
app.route("/", cynetApi);
app.route("/", remediationApi);
app.route("/", control);
app.notFound((c) => c.json(errorBody("not_found", "no such route"), 404));
app.onError((err, c) => {
  // Cynet-side 400s carry the marker too, so tests can check no upstream body leaks.
  if (err instanceof InputError && c.req.path.startsWith("/api/")) {
    return c.json({ ...errorBody("invalid_request", err.message, err.field), detail: SIMULATED_DETAIL_MARKER }, 400);
  }
  return jsonOnError(err, c);
});

/** The Cynet simulator worker. */
export default app;
