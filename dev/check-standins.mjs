// Starts the Cynet simulator and the dev host with wrangler and exercises their APIs.
// Run: PATH=node_modules/.bin:$PATH node dev/check-standins.mjs   (exit code 0 = all checks passed)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
process.env.WRANGLER_SEND_METRICS ??= "false";

const here = fileURLToPath(new URL(".", import.meta.url));
const persist = mkdtempSync(join(tmpdir(), "standins-"));
const failures = [];
let passed = 0;

function check(ok, what, detail) {
  if (ok) passed += 1;
  else {
    failures.push(what);
    console.error(`FAIL ${what}${detail === undefined ? "" : `: ${JSON.stringify(detail).slice(0, 400)}`}`);
  }
}

async function start(config) {
  const worker = await unstable_startWorker({
    config: join(here, config),
    dev: { server: { port: 0 }, inspector: false, logLevel: "warn", watch: false, persist },
  });
  await worker.ready;
  const url = await worker.url;
  return { worker, base: url.origin };
}

function client(base) {
  return async (method, path, { body, headers = {}, raw } = {}) => {
    const init = { method, headers: { ...headers }, redirect: "manual" };
    if (raw !== undefined) init.body = raw;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const res = await fetch(base + path, init);
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}

const EPOCH = "2026-11-01T00:00:00.000Z";
const OPERATOR = { user_name: "operator@acme.example", password: "Operator-Pass-1" };
const MARKER = "SIMULATED-UPSTREAM-DETAIL";

async function checkSimulator(base) {
  const call = client(base);
  const world = (label = "acme") => `/__sim/worlds/${label}`;

  check((await call("GET", "/__sim/health")).status === 200, "sim health");
  const put = await call("PUT", world(), { body: { seed: 7, alertCount: 250, epoch: EPOCH } });
  check(put.status === 200 && put.json.alerts === 250 && put.json.config.epoch === EPOCH, "sim PUT world", put.json);
  check(!put.text.includes("Operator-Pass-1"), "world view hides passwords");

  // Token call.
  const tok = await call("POST", "/api/account/token", { body: OPERATOR });
  check(tok.status === 200 && typeof tok.json.access_token === "string" && tok.json.access_token.length > 16, "token ok", tok.json);
  const token = tok.json.access_token;
  const wrongPw = await call("POST", "/api/account/token", { body: { ...OPERATOR, password: "nope" } });
  check(wrongPw.status === 401 && wrongPw.text.includes(MARKER), "token wrong password 401", wrongPw);
  check((await call("POST", "/api/account/token", { body: { user_name: "ghost@acme.example", password: "x" } })).status === 401, "token unknown user 401");
  check((await call("POST", "/api/account/token", { body: { user_name: "viewer@acme.example", password: "Viewer-Pass-1" } })).status === 403, "token no API permission 403");
  const notJson = await call("POST", "/api/account/token", { raw: "{user_name:", headers: { "content-type": "application/json" } });
  check(notJson.status === 400 && notJson.json.field === "body", "token malformed body 400", notJson.json);
  const noPw = await call("POST", "/api/account/token", { body: { user_name: "operator@acme.example" } });
  check(noPw.status === 400 && noPw.json.field === "password", "token missing password names field", noPw.json);

  const auth = { access_token: token, client_id: "123456" };
  const bulk = (query, headers = auth) => call("GET", `/api/alerts/bulk?${new URLSearchParams(query)}`, { headers });
  const since = "2026-09-01T00:00:00Z";

  check((await bulk({ LastSeen: since, Limit: "10", Offset: "0" }, { client_id: "123456" })).status === 401, "alerts without token 401");
  check((await bulk({ LastSeen: since, Limit: "10", Offset: "0" }, { ...auth, access_token: "bogus" })).status === 401, "alerts unknown token 401");
  const wrongClient = await bulk({ LastSeen: since, Limit: "10", Offset: "0" }, { ...auth, client_id: "999" });
  check(wrongClient.status === 403 && wrongClient.json !== undefined, "alerts wrong client_id 403 JSON", wrongClient);
  const noLastSeen = await bulk({ Limit: "10", Offset: "0" });
  check(noLastSeen.status === 400 && noLastSeen.json.field === "LastSeen", "alerts missing LastSeen 400", noLastSeen.json);
  for (const bad of ["2026-13-01T00:00:00Z", "2026-02-31 10:00:00", "yesterday", "2026-05-09T14:21:43+02:00"]) {
    check((await bulk({ LastSeen: bad, Limit: "10", Offset: "0" })).status === 400, `alerts malformed LastSeen ${bad} 400`);
  }
  for (const [limit, offset] of [["0", "0"], ["1001", "0"], ["abc", "0"], ["10", "-1"]]) {
    const r = await bulk({ LastSeen: since, Limit: limit, Offset: offset });
    check(r.status === 400, `alerts Limit=${limit} Offset=${offset} 400`, r.json);
  }
  for (const form of ["2026-09-01T00:00:00Z", "2026-09-01T00:00:00.000Z", "2026-09-01 00:00:00"]) {
    const r = await bulk({ LastSeen: form, Limit: "5", Offset: "0" });
    check(r.status === 200 && r.json.Entities.length === 5 && /\.\d{3}Z$/.test(r.json.SyncTimeUtc), `alerts LastSeen form ${form}`, r.json);
  }
  check((await bulk({ LastSeen: since, Limit: "1000", Offset: "0" })).status === 200, "alerts Limit=1000 accepted");

  const raw = (await call("GET", `${world()}/alerts`)).json.alerts;
  check(raw.length === 250, "raw alerts count", raw.length);

  async function pageAll(lastSeen, limit = 100) {
    const all = [];
    for (let offset = 0; ; offset += limit) {
      const r = await bulk({ LastSeen: lastSeen, Limit: String(limit), Offset: String(offset) });
      if (r.status !== 200) throw new Error(`paging got ${r.status}`);
      all.push(...r.json.Entities);
      if (r.json.Entities.length < limit) return all;
    }
  }
  const paged = await pageAll(since);
  const ids = paged.map((a) => a.ClientDbId);
  check(paged.length === 250 && new Set(ids).size === 250, "paging to the end returns alertCount alerts", paged.length);
  check(ids.every((id, i) => i === 0 || id > ids[i - 1]) && ids[0] === 100000, "id_asc ordering from 100000");
  check(JSON.stringify(paged) === JSON.stringify(raw), "paged alerts equal raw alerts");

  const times = raw.map((a) => a.LastSeenUtc).sort();
  const cut = times[Math.floor(times.length / 2)];
  const expected = raw.filter((a) => a.LastSeenUtc >= cut).map((a) => a.ClientDbId).sort((a, b) => a - b);
  const filtered = (await pageAll(cut, 50)).map((a) => a.ClientDbId);
  check(JSON.stringify(filtered) === JSON.stringify(expected) && expected.length < 250 && expected.length > 0, "LastSeen filter (inclusive)", [filtered.length, expected.length]);

  // Shape of the generated alerts.
  const fileAlerts = raw.filter((a) => a.AlertType === 0 || a.AlertType === undefined);
  const fixtureShaped = raw.filter((a) => a.AlertType === undefined);
  check(fixtureShaped.length > 0 && fixtureShaped.every((a) => a.Status === undefined && /^[0-9A-F]{64}$/.test(a.Sha256Hex) && a.DateIn.endsWith("+00:00")), "fixture-shaped alerts present");
  const desc = JSON.parse(fixtureShaped[0].IncidentJsonDescription);
  check(desc["Extra Info"]["Infected file SHA256"] === fixtureShaped[0].Sha256Hex && desc["Extra Info"].Sha256 !== fixtureShaped[0].Sha256Hex, "fixture description hashes");
  check(raw.some((a) => [1, 2, 3].includes(a.AlertType)), "network alerts present");
  check(fileAlerts.some((a) => a.Sha256 === undefined && a.Sha256Hex === undefined && a.File?.Sha256), "hash only in File.Sha256 present");

  // Same seed, count and epoch: byte-identical alerts.
  await call("PUT", world(), { body: { seed: 7, alertCount: 250, epoch: EPOCH } });
  const again = (await call("GET", `${world()}/alerts`)).text;
  check(again === JSON.stringify({ total: 250, alerts: raw }), "regeneration is byte-identical");
  const other = (await call("PUT", world("other"), { body: { seed: 8, alertCount: 250, epoch: EPOCH } })).status;
  const otherAlerts = (await call("GET", `${world("other")}/alerts`)).json.alerts;
  check(other === 200 && JSON.stringify(otherAlerts) !== JSON.stringify(raw), "another seed gives other alerts");

  // Regenerating cleared the tokens.
  const token2 = (await call("POST", "/api/account/token", { body: OPERATOR })).json.access_token;
  check((await bulk({ LastSeen: since, Limit: "1", Offset: "0" })).status === 401, "world reset drops tokens");
  auth.access_token = token2;

  // Worlds by host name.
  const beta = { "x-forwarded-host": "Beta.API.cynet.com" };
  const betaTok = await call("POST", "/api/account/token", { body: OPERATOR, headers: beta });
  check(betaTok.status === 200, "token on world beta");
  check((await bulk({ LastSeen: since, Limit: "1", Offset: "0" }, { ...auth, ...beta })).status === 401, "acme token refused on beta");
  const betaView = (await call("GET", world("beta"))).json;
  check(betaView.counters.token === 1 && betaView.counters.alerts === 1 && betaView.liveTokens === 1, "beta counters", betaView);
  check(betaView.config.seed !== put.json.config.seed && betaView.config.alertCount === 250, "beta defaults");

  // full/file
  const fileAlert = raw.find((a) => a.Sha256Hex && /^[0-9A-F]{64}$/.test(a.Sha256Hex));
  const file = await call("GET", `/api/full/file?sha256=${fileAlert.Sha256Hex}`, { headers: auth });
  const rec = file.json;
  check(file.status === 200 && rec.sha256 === fileAlert.Sha256Hex.toLowerCase() && /^[0-9a-f]{32}$/.test(rec.md5)
    && /^([0-9a-f]{40})?$/.test(rec.sha1) && ["true", "false"].includes(rec.is_whitelisted)
    && rec.occurrences.length > 0 && rec.occurrences.every((o) => o.hostname && o.full_path && o.filename)
    && typeof rec.common_filename === "string" && typeof rec.first_seen === "string" && typeof rec.last_seen === "string", "full/file record", rec);
  check((await call("GET", `/api/full/file?sha256=${"ab".repeat(32)}`, { headers: auth })).status === 404, "full/file unknown 404");
  check((await call("GET", "/api/full/file?sha256=xyz", { headers: auth })).status === 400, "full/file bad hash 400");
  check((await call("GET", `/api/full/file?sha256=${rec.sha256}`)).status === 401, "full/file needs token");
  check(rec.occurrences.every((o) => ["PROCESS", "FILE"].includes(o.file_type) && "creation_time" in o && "last_run_time" in o && "owner_user" in o && "running_user" in o), "full/file occurrences carry file_type, times and users", rec.occurrences);
  // Occurrences placed on endpoints: a file Cynet never saw is 404 until its occurrence appears.
  const placedHash = "ba5eba11".repeat(8);
  const soon = new Date(Date.now() + 60 * 60_000).toISOString();
  const placeLater = await call("POST", `${world()}/files/${placedHash}/occurrences`, { body: { hostname: "WS-LATER", full_path: "C:\\mail\\a.exe", file_type: "PROCESS", appearsAt: soon } });
  check(placeLater.status === 201, "occurrence placed for later", placeLater.json);
  check((await call("GET", `/api/full/file?sha256=${placedHash}`, { headers: auth })).status === 404, "full/file 404 before the occurrence appears");
  await call("POST", `${world()}/files/${placedHash}/occurrences`, { body: { hostname: "WS-NOW", full_path: "C:\\mail\\a.exe", owner_user: "ACME\\bob" } });
  const placed = await call("GET", `/api/full/file?sha256=${placedHash}`, { headers: auth });
  check(placed.status === 200 && placed.json.occurrences.length === 1 && placed.json.occurrences[0].hostname === "WS-NOW" && placed.json.occurrences[0].file_type === "FILE" && placed.json.occurrences[0].owner_user === "ACME\\bob", "full/file lists the occurrence placed now, not the later one", placed.json);
  check((await call("POST", `${world()}/files/xyz/occurrences`, { body: { hostname: "h", full_path: "p" } })).json?.field === "sha256", "occurrence on a bad hash refused");
  check((await call("POST", `${world()}/files/${placedHash}/occurrences`, { body: { full_path: "p" } })).json?.field === "hostname", "occurrence without a host refused");

  // Faults.
  const fault = (rule) => call("POST", `${world()}/faults`, { body: rule });
  const clear = () => call("DELETE", `${world()}/faults`);
  check((await fault({ endpoint: "nope", status: 500 })).json?.field === "endpoint", "fault bad endpoint 400");
  check((await fault({ endpoint: "alerts", delayMs: 40000 })).json?.field === "delayMs", "fault delay bound 400");
  check((await fault({ endpoint: "alerts", status: 500, malformed: true })).status === 400, "fault with two answers 400");

  await fault({ endpoint: "token", status: 500, times: 1 });
  const t500 = await call("POST", "/api/account/token", { body: OPERATOR });
  check(t500.status === 500 && t500.text.includes(MARKER), "fault token 500 once", t500);
  check((await call("POST", "/api/account/token", { body: OPERATOR })).status === 200, "fault spent after times");
  await clear();

  await fault({ endpoint: "alerts", status: 429, retryAfterSeconds: 7 });
  const r429 = await bulk({ LastSeen: since, Limit: "1", Offset: "0" });
  check(r429.status === 429 && r429.headers.get("retry-after") === "7" && r429.text.includes(MARKER), "fault 429 Retry-After");
  await clear();

  await fault({ endpoint: "alerts", malformed: true });
  const bad = await bulk({ LastSeen: since, Limit: "1", Offset: "0" });
  check(bad.status === 200 && bad.json === undefined && bad.text.includes(MARKER), "fault malformed 200 not JSON", bad.text);
  await clear();

  await fault({ endpoint: "token", redirectTo: "https://login.example/elsewhere" });
  const redirect = await call("POST", "/api/account/token", { body: OPERATOR });
  check(redirect.status === 302 && redirect.headers.get("location") === "https://login.example/elsewhere", "fault redirect 302");
  await clear();

  await fault({ endpoint: "alerts", delayMs: 400, times: 1 });
  const t0 = Date.now();
  const slow = await bulk({ LastSeen: since, Limit: "1", Offset: "0" });
  check(slow.status === 200 && Date.now() - t0 >= 390, "fault delay then normal answer", Date.now() - t0);
  await clear();

  await fault({ endpoint: "file", status: 503, afterCalls: 1, times: 1 });
  const fileCalls = [];
  for (let i = 0; i < 3; i += 1) fileCalls.push((await call("GET", `/api/full/file?sha256=${rec.sha256}`, { headers: auth })).status);
  check(JSON.stringify(fileCalls) === "[200,503,200]", "fault afterCalls + times", fileCalls);
  const listed = (await call("GET", `${world()}/faults`)).json.faults[0];
  check(listed.seen === 3 && listed.fired === 1, "fault counters", listed);
  check((await clear()).json.cleared === 1, "faults cleared");

  for (const status of [401, 403, 409, 502]) {
    await fault({ endpoint: "*", status });
    const r = await call("POST", "/api/account/token", { body: OPERATOR });
    check(r.status === status && r.text.includes(MARKER), `fault * ${status}`);
    await clear();
  }
  check((await call("GET", "/__sim/health")).status === 200, "faults do not touch /__sim");

  const view = (await call("GET", world())).json;
  check(view.counters.token > 0 && view.counters.alerts > 0 && view.counters.file > 0 && view.faults.length === 0, "world counters", view.counters);

  // Token expiry.
  const exp = await call("POST", `${world()}/expire-tokens`);
  check(exp.status === 200 && exp.json.expired >= 1, "expire-tokens", exp.json);
  check((await bulk({ LastSeen: since, Limit: "1", Offset: "0" })).status === 401, "expired token 401");
  await call("PUT", world("short"), { body: { alertCount: 3, tokenTtlSeconds: 1 } });
  const shortHdr = { "x-forwarded-host": "short.api.cynet.com" };
  const shortTok = (await call("POST", "/api/account/token", { body: OPERATOR, headers: shortHdr })).json.access_token;
  const shortAuth = { ...shortHdr, access_token: shortTok, client_id: "123456" };
  check((await bulk({ LastSeen: since, Limit: "1", Offset: "0" }, shortAuth)).status === 200, "short token works at first");
  await new Promise((r) => setTimeout(r, 1200));
  check((await bulk({ LastSeen: since, Limit: "1", Offset: "0" }, shortAuth)).status === 401, "token expires after tokenTtlSeconds");

  // Appending and touching alerts.
  auth.access_token = (await call("POST", "/api/account/token", { body: OPERATOR })).json.access_token;
  const before = new Date(Date.now() - 1000).toISOString().slice(0, 19) + "Z";
  const added = await call("POST", `${world()}/alerts`, { body: { count: 5 } });
  check(added.status === 201 && added.json.alerts.length === 5 && added.json.alerts[0].ClientDbId === 100250, "append count", added.json.alerts?.[0]);
  const newHash = "C0FFEE".padEnd(64, "1");
  const custom = await call("POST", `${world()}/alerts`, { body: { alerts: [{ AlertType: 0, Sha256: newHash, HostName: "WKS-NEW", File: { CommonFileName: "new.exe" } }] } });
  check(custom.status === 201 && custom.json.alerts[0].ClientDbId === 100255 && custom.json.alerts[0].Sha256 === newHash, "append explicit alert");
  const recent = (await pageAll(before)).map((a) => a.ClientDbId);
  check(JSON.stringify(recent) === "[100250,100251,100252,100253,100254,100255]", "LastSeen picks up appended alerts", recent);
  const newFile = await call("GET", `/api/full/file?sha256=${newHash}`, { headers: auth });
  check(newFile.status === 200 && newFile.json.common_filename === "new.exe" && newFile.json.occurrences[0].hostname === "WKS-NEW", "full/file of appended hash", newFile.json);
  check((await call("POST", `${world()}/alerts`, { body: { count: 0 } })).json?.field === "count", "append count 0 refused");
  check((await call("POST", `${world()}/alerts`, { body: { count: 1, alerts: [{}] } })).json?.field === "count", "append count and alerts refused");
  check((await call("POST", `${world()}/alerts`, { body: { alerts: [{ HostId: "x" }] } })).json?.field === "alerts.0.HostId", "append bad alert field named");

  const touched = await call("POST", `${world()}/alerts/touch`, { body: { clientDbIds: [100000, 100001] } });
  check(touched.status === 200, "touch");
  const afterTouch = (await pageAll(before)).map((a) => a.ClientDbId);
  check(afterTouch.includes(100000) && afterTouch.includes(100001) && afterTouch.length === 8, "touched alerts seen again", afterTouch);
  check((await call("POST", `${world()}/alerts/touch`, { body: { clientDbIds: [1] } })).status === 404, "touch unknown id 404");

  // Remediation: file actions as JSON, host isolation as form data, items that move as they are polled, and the calls log.
  const remHost = "WKS-NEW";
  const q = await call("POST", "/api/file/remediation/quarantine", { body: { sha256: newHash, host: remHost }, headers: auth });
  check(q.status === 200 && Array.isArray(q.json.remediation_items) && q.json.remediation_items.length === 1, "remediation quarantine items", q.json);
  const itemId = q.json.remediation_items[0];
  const polls = [];
  for (let i = 0; i < 3; i += 1) polls.push((await call("GET", `/api/file/remediation/${itemId}`, { headers: auth })).json.statusInfo);
  check(JSON.stringify(polls) === JSON.stringify(["In progress", "File quarantined", "File quarantined"]), "remediation item moves, then holds", polls);
  const requarantine = await call("POST", "/api/file/remediation/quarantine", { body: { sha256: newHash, host: remHost }, headers: auth });
  await call("GET", `/api/file/remediation/${requarantine.json.remediation_items[0]}`, { headers: auth });
  const missing = (await call("GET", `/api/file/remediation/${requarantine.json.remediation_items[0]}`, { headers: auth })).json;
  check(missing.status === 24 && missing.statusInfo === "File does not exist", "a quarantined file is not there any more", missing);
  check((await call("POST", "/api/file/remediation/delete", { body: { sha256: newHash, host: null }, headers: auth })).status === 400, "host: null refused");
  check((await call("POST", "/api/file/remediation/kill", { body: { sha256: newHash, host: remHost } })).status === 401, "remediation needs a token");
  const iso = await call("POST", "/api/host/remediation/isolate", { raw: `host=${remHost}`, headers: { ...auth, "content-type": "application/x-www-form-urlencoded" } });
  check(iso.status === 200 && iso.json.remediation_items.length === 1, "host isolate takes form data", iso.json);
  check((await call("GET", "/api/file/remediation/999999999", { headers: auth })).status === 404, "unknown remediation item 404");
  const log = (await call("GET", `${world()}/remediation/calls`)).json;
  check(log.calls.map((c) => `${c.action}:${c.host}:${c.answered}`).join(",") === `quarantine:${remHost}:200,quarantine:${remHost}:200,delete:null:400,kill:${remHost}:401,isolate:${remHost}:200`, "remediation calls logged with their answers", log.calls);

  // last_seen_desc: alerts added while paging shift later pages.
  await call("PUT", world("shift"), { body: { alertCount: 30, ordering: "last_seen_desc", epoch: EPOCH } });
  const shiftHdr = { "x-forwarded-host": "shift.api.cynet.com" };
  const shiftAuth = { ...shiftHdr, client_id: "123456", access_token: (await call("POST", "/api/account/token", { body: OPERATOR, headers: shiftHdr })).json.access_token };
  const p1 = (await bulk({ LastSeen: since, Limit: "10", Offset: "0" }, shiftAuth)).json.Entities;
  const lastSeens = p1.map((a) => a.LastSeenUtc);
  check(lastSeens.every((t, i) => i === 0 || t <= lastSeens[i - 1]), "last_seen_desc order");
  await call("POST", `${world("shift")}/alerts`, { body: { count: 5 } });
  const p2 = (await bulk({ LastSeen: since, Limit: "10", Offset: "10" }, shiftAuth)).json.Entities;
  check(p2.slice(0, 5).every((a) => p1.some((b) => b.ClientDbId === a.ClientDbId)), "appended alerts shift later pages");

  // Control validation and deletion.
  const tooMany = await call("PUT", world("big"), { body: { alertCount: 200001 } });
  check(tooMany.status === 400 && tooMany.json.field === "alertCount", "alertCount bound", tooMany.json);
  check((await call("PUT", world("big"), { body: { colour: "red" } })).json?.field === "colour", "unknown world option named");
  check((await call("PUT", world("bad.label"), { body: {} })).json?.field === "label", "bad label 400");
  check((await call("DELETE", world("other"))).json.deleted === true, "delete world");
}

async function checkHost(base) {
  const call = client(base);
  const bearer = { authorization: "Bearer dev-host-token" };
  const post = (path, body, key, extra = {}) =>
    call("POST", `/v1/tenants/t1${path}`, { body, headers: { ...bearer, ...(key === undefined ? {} : { "idempotency-key": key }), ...extra } });
  const event = (n) => ({ type: "Malicious File in Endpoint", severity: "high", occurredAt: "2026-10-30T10:00:00Z", title: `file ${n}`, details: { n } });

  check((await call("GET", "/__host/health")).status === 200, "host health");
  await call("DELETE", "/__host/tenants/t1");
  await call("DELETE", "/__host/tenants/t2");
  check((await call("POST", "/v1/tenants/t1/events", { body: event(1), headers: { "idempotency-key": "x" } })).status === 401, "host no bearer 401");
  check((await post("/events", event(1), "x", { authorization: "Bearer wrong" })).status === 401, "host wrong bearer 401");
  const noKey = await post("/events", event(1));
  check(noKey.status === 400 && noKey.json.field === "Idempotency-Key", "host POST without Idempotency-Key 400", noKey.json);
  const badSev = await post("/events", { ...event(1), severity: "HIGH!" }, "bad-1");
  check(badSev.status === 400 && badSev.json.field === "severity", "host bad event names field", badSev.json);

  const first = await post("/events", event(1), "k1");
  check(first.status === 201 && typeof first.json.eventId === "string", "event 201", first.json);
  const repeat = await post("/events", event(1), "k1");
  check(repeat.status === 200 && repeat.text === first.text, "event repeated key 200 same body");

  const batchBody = { events: [{ idempotencyKey: "k1", ...event(1) }, { idempotencyKey: "b1", ...event(2) }, { idempotencyKey: "b2", ...event(3) }, { idempotencyKey: "b1", ...event(2) }] };
  const batch = await post("/events/batch", batchBody, "batch-1");
  const results = batch.json?.results ?? [];
  check(batch.status === 200 && results.length === 4, "batch 200", batch.json);
  check(results[0]?.duplicate === true && results[0]?.eventId === first.json.eventId, "batch item with seen key is duplicate with first eventId");
  check(results[1]?.duplicate === false && results[2]?.duplicate === false && results[3]?.duplicate === true && results[3]?.eventId === results[1]?.eventId, "batch new items and in-batch duplicate", results);
  const batchAgain = await post("/events/batch", batchBody, "batch-1");
  check(batchAgain.status === 200 && batchAgain.text === batch.text, "batch repeated key 200 same body");
  check((await post("/events/batch", { events: Array.from({ length: 101 }, (_, i) => ({ idempotencyKey: `m${i}`, ...event(i) })) }, "batch-big")).status === 400, "batch of 101 refused");
  check((await post("/events/batch", { events: [] }, "batch-empty")).status === 400, "empty batch refused");
  const afterSingle = await post("/events", event(2), "b2");
  check(afterSingle.status === 200 && afterSingle.json.eventId === results[2]?.eventId, "single event with a batch item's key is the same event");

  const events = (await call("GET", "/__host/tenants/t1/events")).json;
  check(events.events.length === 3 && events.events[0].idempotencyKey === "k1" && events.events[1].batchIdempotencyKey === "batch-1", "host lists events with keys", events);
  check(events.duplicatesRefused === 1 + 2 + 4 + 1, "duplicate deliveries counted", events.duplicatesRefused);

  // Scans.
  const sha = "AB".repeat(32);
  const md5 = "cd".repeat(16);
  const seeded = await call("PUT", "/__host/tenants/t1/scans", { body: { scans: [
    { scanId: "s1", fileName: "invoice.exe", scannedAt: "2026-10-01T08:00:00Z", sha256: sha },
    { scanId: "s2", fileName: "tool.dll", scannedAt: "2026-10-02T08:00:00Z", md5 },
  ] } });
  check(seeded.status === 200 && seeded.json.seeded === 2, "seed scans");
  check((await call("PUT", "/__host/tenants/t1/scans", { body: { scans: [{ scanId: "s3", fileName: "x", scannedAt: "2026-10-02T08:00:00Z" }] } })).status === 400, "scan without hash refused");
  const search = await post("/scans/search", { sha256: [sha.toLowerCase()], md5: [md5.toUpperCase()], sha1: ["ef".repeat(20)] });
  const matches = search.json?.matches ?? [];
  check(search.status === 200 && matches.length === 2 && matches.some((m) => m.scanId === "s1" && m.hashType === "sha256" && m.hash === sha.toLowerCase())
    && matches.some((m) => m.scanId === "s2" && m.hashType === "md5" && m.fileName === "tool.dll" && m.scannedAt === "2026-10-02T08:00:00Z"), "scan search case-insensitive", search.json);
  check((await post("/scans/search", { sha256: Array.from({ length: 101 }, () => sha) })).status === 400, "scan search over 100 refused");
  check((await post("/scans/search", { sha256: ["nothex"] })).json?.field === "sha256.0", "scan search bad hash named");
  check((await post("/scans/search", { sha256: [sha] }, "search-key")).status === 200, "scan search accepts an Idempotency-Key");

  // Notes and IR requests.
  const note = await post("/scans/s1/notes", { author: "Cynet", text: "Cynet found invoice.exe malicious on WKS-0001" }, "n1");
  check(note.status === 201 && typeof note.json.noteId === "string", "note 201");
  check((await post("/scans/s1/notes", { author: "Cynet", text: "again" }, "n1")).text === note.text, "note repeated key same body");
  check((await post("/scans/nope/notes", { author: "Cynet", text: "x" }, "n2")).status === 404, "note on unknown scan 404");
  const scans = (await call("GET", "/__host/tenants/t1/scans")).json.scans;
  check(scans.find((s) => s.scanId === "s1")?.notes.length === 1 && scans.find((s) => s.scanId === "s1").notes[0].idempotencyKey === "n1", "scan lists its notes", scans);
  const irBody = { scanId: "s1", subject: "Investigate scan s1", description: "Cynet detected it", priority: "high", evidence: { sha256: sha } };
  const ir = await post("/ir-requests", irBody, "ir1");
  check(ir.status === 201 && typeof ir.json.requestId === "string", "ir request 201");
  check((await post("/ir-requests", irBody, "ir1")).text === ir.text, "ir repeated key same body");
  const irs = (await call("GET", "/__host/tenants/t1/ir-requests")).json;
  check(irs.irRequests.length === 1 && irs.irRequests[0].idempotencyKey === "ir1" && irs.duplicatesRefused === 1, "ir requests listed", irs);
  check((await call("GET", "/__host/tenants/t1/notes")).json.notes.length === 1, "notes listed");
  check((await post("/ir-requests", irBody, "n1")).status === 422, "key reused on another endpoint 422");

  // Faults.
  const hostFault = (rule) => call("POST", "/__host/tenants/t1/faults", { body: rule });
  check((await hostFault({ endpoint: "token", status: 500 })).json?.field === "endpoint", "host fault bad endpoint");
  await hostFault({ endpoint: "events", status: 503, times: 1 });
  const f503 = await post("/events", event(9), "k9");
  check(f503.status === 503 && f503.text.includes(MARKER), "host fault 503");
  check((await post("/events", event(9), "k9")).status === 201, "host fault spent, retry stored");
  await hostFault({ endpoint: "*", status: 429, retryAfterSeconds: 3 });
  const f429 = await post("/ir-requests", irBody, "ir-2");
  check(f429.status === 429 && f429.headers.get("retry-after") === "3", "host fault 429 Retry-After");
  check((await call("DELETE", "/__host/tenants/t1/faults")).json.cleared === 2, "host faults cleared");
  await hostFault({ endpoint: "scans/search", delayMs: 300, times: 1 });
  const ts = Date.now();
  check((await post("/scans/search", { md5: [md5] })).status === 200 && Date.now() - ts >= 290, "host fault delay");
  await call("DELETE", "/__host/tenants/t1/faults");

  // Isolation and wipe.
  check((await call("GET", "/__host/tenants/t2/events")).json.events.length === 0, "tenants are isolated");
  check((await call("GET", "/__host/tenants/bad%20id/events")).status === 400, "bad tenant id 400");
  check((await call("DELETE", "/__host/tenants/t1")).status === 200, "wipe tenant");
  const wiped = (await call("GET", "/__host/tenants/t1/events")).json;
  check(wiped.events.length === 0 && wiped.duplicatesRefused === 0, "wipe empties the tenant");
}

const started = [];
try {
  const sim = await start("cynet-sim/wrangler.toml");
  started.push(sim.worker);
  await checkSimulator(sim.base);
  const host = await start("host/wrangler.toml");
  started.push(host.worker);
  await checkHost(host.base);
} catch (err) {
  failures.push(String(err?.stack ?? err));
  console.error(err);
} finally {
  await Promise.allSettled(started.map((w) => w.dispose()));
  rmSync(persist, { recursive: true, force: true });
}
console.log(`${passed} checks passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
