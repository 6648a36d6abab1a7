/**
 * The test Worker's outbound network: Cynet tenants (`*.api.cynet.com`) go to the Cynet
 * simulator, `host.test` to the dev host, and anything else is refused and counted, so a test
 * that makes an unexpected call fails (test/setup checks the count after each test).
 */
export interface StandinPorts {
  cynet: number;
  host: number;
}

/** Where the count of unexpected calls is read from. */
export const OUTBOUND_AUDIT_URL = "https://outbound.test/unexpected";

const unexpected: string[] = [];

/** Makes the miniflare outboundService function for the given stand-in ports. */
export function routeOutbound(ports: StandinPorts) {
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (request.url === OUTBOUND_AUDIT_URL) {
      const calls = unexpected.splice(0);
      return Response.json({ unexpected: calls });
    }
    let port: number | undefined;
    const headers = new Headers(request.headers);
    if (/^[a-z0-9-]+\.api\.cynet\.com$/i.test(url.hostname) && url.protocol === "https:") {
      port = ports.cynet;
      headers.set("x-forwarded-host", url.host);
    } else if (url.hostname === "host.test") {
      port = ports.host;
    }
    if (port === undefined) {
      unexpected.push(`${request.method} ${url.origin}${url.pathname}`);
      return new Response("unexpected outbound call in a test", { status: 599 });
    }
    const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
    return fetch(`http://127.0.0.1:${port}${url.pathname}${url.search}`, { method: request.method, headers, body, redirect: "manual" });
  };
}
