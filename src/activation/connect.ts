/**
 * Connect: the staged live check of what the admin typed, against their Cynet. First the token
 * call (is the URL a Cynet API, are the username and password right, may the user use the API),
 * then a one-row read of alerts with the Client ID (does Cynet accept it). Each failure becomes
 * a distinct message that tells the admin which field to fix; Cynet's own error text never does.
 */
import { ApiError } from "../http/errors";
import { fetchAlertsPage, login, type CynetSession } from "../cynet/client";
import { CynetError, type CynetTarget } from "../cynet/transport";

/** How far back the Client ID probe reads; any window works, a short one keeps the answer small. */
const PROBE_LOOKBACK_MS = 60 * 60 * 1000;
/** The probe reads a single alert: enough to prove access, cheap for Cynet. */
const PROBE_LIMIT = 1;

/** The admin-facing error for a Cynet failure that is about reaching Cynet, not about a field's value. */
function reachError(err: CynetError, baseUrl: string): ApiError {
  if (err.failure === "http" && (err.status === 409 || err.status === 429 || (err.status ?? 0) >= 500)) {
    return new ApiError(502, "cynet_unavailable", `Cynet at ${baseUrl} is busy or failing right now (HTTP ${err.status}). Try Connect again in a few minutes.`, "orgUrl");
  }
  const why =
    err.failure === "timeout"
      ? "did not answer in time"
      : err.failure === "unreachable"
        ? "could not be reached"
        : "did not answer like a Cynet API";
  return new ApiError(502, "cynet_unreachable", `Cynet at ${baseUrl} ${why}. Check the Organization's URL in Cynet: it looks like https://yourcompany.api.cynet.com.`, "orgUrl");
}

/** Maps a failed token call to the admin's message. */
export function loginError(err: unknown, baseUrl: string, username: string): ApiError {
  if (!(err instanceof CynetError)) throw err;
  if (err.failure === "http" && err.status === 401) {
    return new ApiError(422, "invalid_credentials", "Cynet rejected the username or password. Check both and connect again.", "password");
  }
  if (err.failure === "http" && err.status === 403) {
    return new ApiError(422, "missing_api_permission", `The Cynet user ${username} may not use the API. Give it the Operator role with API access (a dedicated user is recommended) and connect again.`, "username");
  }
  return reachError(err, baseUrl);
}

/** Maps a failed Client ID probe to the admin's message. */
function probeError(err: unknown, baseUrl: string, clientId: string): ApiError {
  if (!(err instanceof CynetError)) throw err;
  // After a fresh token, a refusal of the alerts read can only be about the site: the Client ID.
  if (err.failure === "http" && [400, 401, 403, 404].includes(err.status ?? 0)) {
    return new ApiError(422, "invalid_client_id", `Cynet refused Client ID ${clientId} for this user. Find the right one in Cynet under Global Settings > Client Site Manager > Sites Status.`, "clientId");
  }
  return reachError(err, baseUrl);
}

/** Runs the staged check and returns a logged-in session; throws the admin's ApiError on any failure. */
export async function verifyCredentials(
  target: CynetTarget,
  input: { clientId: string; username: string; password: string },
  now: Date,
): Promise<CynetSession> {
  let accessToken: string;
  try {
    accessToken = await login(target, input.username, input.password);
  } catch (err) {
    throw loginError(err, target.baseUrl, input.username);
  }
  const session: CynetSession = { target, accessToken, clientId: input.clientId };
  try {
    await fetchAlertsPage(session, new Date(now.getTime() - PROBE_LOOKBACK_MS), PROBE_LIMIT, 0);
  } catch (err) {
    throw probeError(err, target.baseUrl, input.clientId);
  }
  return session;
}
