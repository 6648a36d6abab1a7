/** The one layout every dev host page shares: header, navigation, notice, local times. */
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { devAdmin } from "../actor";

/** A piece of rendered HTML. */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The pages in the navigation. */
export type PageId = "bundles" | "audit" | "events" | "scans" | "ir-requests" | "actions";

/** Where each page lives, for a tenant. */
export const paths = {
  bundles: (t: string) => `/tenants/${encodeURIComponent(t)}/settings/bundles-and-channels`,
  audit: (t: string) => `/tenants/${encodeURIComponent(t)}/settings/audit`,
  events: (t: string) => `/tenants/${encodeURIComponent(t)}/security/events`,
  scans: (t: string) => `/tenants/${encodeURIComponent(t)}/security/scans`,
  irRequests: (t: string) => `/tenants/${encodeURIComponent(t)}/security/ir-requests`,
  scan: (t: string, scanId: string) => `/tenants/${encodeURIComponent(t)}/security/scans/${encodeURIComponent(scanId)}`,
  actions: (t: string) => `/tenants/${encodeURIComponent(t)}/security/actions`,
  newAction: (t: string) => `/tenants/${encodeURIComponent(t)}/security/actions/new`,
  action: (t: string, id: string) => `/tenants/${encodeURIComponent(t)}/security/actions/${encodeURIComponent(id)}`,
};

/** A message shown at the top of the page after an action. */
export interface Notice {
  tone: "ok" | "error";
  text: string;
}

const CSS = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #d5dae3; --bg: #f5f7fa; --panel: #fff; --accent: #1a56b8; --accent-fg: #fff;
  --ok: #1d7a3e; --ok-bg: #e6f4ea; --bad: #b3261e; --bad-bg: #fdecea; --warn: #8a5a00; --warn-bg: #fff4d6; --focus: #f0a500;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
* { box-sizing: border-box; }
body { margin: 0; font-size: 15px; line-height: 1.45; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
.vh { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; }
header.top { display: flex; justify-content: space-between; align-items: center; padding: .6rem 1.25rem; background: #16233b; color: #fff; }
header.top .brand { font-weight: 650; letter-spacing: .01em; }
header.top .brand small { font-weight: 400; opacity: .75; margin-left: .4rem; }
.shell { display: grid; grid-template-columns: 15rem 1fr; min-height: calc(100vh - 2.6rem); }
nav.side { background: var(--panel); border-right: 1px solid var(--line); padding: 1rem .75rem; }
nav.side .group { margin: 1rem .5rem .25rem; font-size: .75rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); font-weight: 650; }
nav.side .group:first-child { margin-top: 0; }
nav.side ul { list-style: none; margin: 0; padding: 0; }
nav.side a { display: block; padding: .4rem .6rem; border-radius: 6px; text-decoration: none; color: var(--fg); }
nav.side a:hover { background: var(--bg); }
nav.side a[aria-current="page"] { background: #e3ecfb; color: var(--accent); font-weight: 600; }
main { padding: 1.25rem 2rem 3rem; max-width: 78rem; }
main:focus { outline: none; }
.crumbs ol { list-style: none; display: flex; gap: .4rem; margin: 0 0 .25rem; padding: 0; color: var(--muted); font-size: .85rem; }
.crumbs li + li::before { content: "›"; margin-right: .4rem; }
h1 { margin: 0 0 1rem; font-size: 1.6rem; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 .6rem; }
h3 { font-size: 1.05rem; margin: 0 0 .3rem; }
.notice { padding: .7rem 1rem; border-radius: 8px; margin: 0 0 1rem; border: 1px solid; }
.notice.ok { background: var(--ok-bg); border-color: #a8d5b5; color: #14532d; }
.notice.error { background: var(--bad-bg); border-color: #f1b0aa; color: #7f1d1d; }
.notice.warn { background: var(--warn-bg); border-color: #ecd18a; color: #5c3d00; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.25rem; }
.cards { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); gap: 1rem; }
.cards > li { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.25rem; }
.cards p { margin: .2rem 0 .6rem; color: var(--muted); }
details > summary { cursor: pointer; font-weight: 600; }
.bundle-settings { margin: .5rem 0 .8rem; }
.bundle-settings ul { margin: .4rem 0 0; padding-left: 1.2rem; }
.tag { display: inline-block; font-size: .75rem; padding: 0 .45rem; border-radius: 999px; background: #eef1f6; color: var(--muted); margin-left: .35rem; }
button, .button { font: inherit; border-radius: 6px; border: 1px solid var(--accent); padding: .4rem .9rem; cursor: pointer; background: var(--panel); color: var(--accent); }
button.primary { background: var(--accent); color: var(--accent-fg); }
button.danger { border-color: var(--bad); color: var(--bad); }
button[disabled] { opacity: .6; cursor: progress; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
table { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
th, td { text-align: left; vertical-align: top; padding: .6rem .75rem; border-bottom: 1px solid var(--line); }
thead th { background: #eef1f6; font-size: .85rem; color: var(--muted); font-weight: 650; }
tbody:last-child tr:last-child > * { border-bottom: 0; }
.status { display: inline-block; padding: .05rem .6rem; border-radius: 999px; font-weight: 600; font-size: .85rem; border: 1px solid; }
.status.active, .status.on { background: var(--ok-bg); color: var(--ok); border-color: #a8d5b5; }
.status.inactive, .status.not_enabled { background: #eef1f6; color: var(--muted); border-color: var(--line); }
.status.error { background: var(--bad-bg); color: var(--bad); border-color: #f1b0aa; }
.sev { font-weight: 650; }
.sev.high, .sev.critical { color: var(--bad); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .9rem; margin: .4rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
code, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f1f3f7; padding: .6rem; border-radius: 6px; font-size: .8rem; }
.muted { color: var(--muted); }
.detail-groups { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .5rem 1.25rem; margin: .4rem 0; }
.detail-group { margin: .25rem 0; }
table.events tr.event-row > td { border-bottom: 0; padding-bottom: .15rem; }
table.events tr.event-details-row > td { padding-top: 0; }
table.events tbody.event:last-child tr.event-details-row > td { border-bottom: 0; }
.event-details > summary { font-weight: 400; color: var(--accent); font-size: .9rem; }
details.raw { margin-top: .3rem; font-size: .85rem; }
details.raw > summary { font-weight: 400; color: var(--muted); }
.detail-group h4 { margin: .5rem 0 0; font-size: .9rem; }
.scan, .ir { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.25rem; margin-bottom: 1rem; }
.scan h2, .ir h2 { margin: 0 0 .4rem; font-size: 1.1rem; }
.notes { list-style: none; padding: 0; margin: .3rem 0 0; }
.notes li { border-left: 4px solid var(--accent); background: #f3f7fe; padding: .5rem .75rem; border-radius: 0 6px 6px 0; margin-bottom: .5rem; }
.note-text, .ir-description { white-space: pre-wrap; margin: .25rem 0 0; }
ol.plain, ul.plain { list-style: none; padding: 0; margin: 0; }
.toolbar { display: flex; gap: 1rem; align-items: baseline; margin-bottom: .75rem; color: var(--muted); }
table.events, table.channels { table-layout: fixed; }
table.events tr.event-row time { white-space: nowrap; }
.actions form { margin: 0; }
dialog { border: 0; border-radius: 12px; padding: 0; width: min(40rem, 94vw); box-shadow: 0 20px 50px rgba(0,0,0,.3); }
dialog::backdrop { background: rgba(16, 24, 40, .55); }
dialog form { padding: 1.25rem 1.5rem 1.5rem; }
dialog h2 { margin: 0 0 .25rem; }
.field { margin: 1rem 0; }
.field label { display: block; font-weight: 600; margin-bottom: .25rem; }
.field .req { color: var(--muted); font-weight: 400; font-size: .85rem; }
.field input { width: 100%; font: inherit; padding: .45rem .6rem; border: 1px solid #9aa3b2; border-radius: 6px; }
.field input[aria-invalid="true"] { border-color: var(--bad); box-shadow: 0 0 0 1px var(--bad); }
.field .help { margin: .25rem 0 0; font-size: .85rem; color: var(--muted); }
.field-error { margin: .3rem 0 0; color: var(--bad); font-weight: 600; font-size: .9rem; }
.field-error::before { content: "⚠ "; }
.preview { margin: .3rem 0 0; font-size: .9rem; }
.preview output { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 600; }
.form-error { padding: .6rem .8rem; border-radius: 6px; background: var(--bad-bg); color: #7f1d1d; border: 1px solid #f1b0aa; margin: .75rem 0; }
.status.open { background: var(--warn-bg); color: var(--warn); border-color: #ecd18a; }
form.filter { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: 0 0 .75rem; }
form.filter label { font-weight: 600; }
form.filter input { font: inherit; padding: .4rem .6rem; border: 1px solid #9aa3b2; border-radius: 6px; min-width: 22rem; }
form.filter .help { flex-basis: 100%; margin: 0; font-size: .85rem; }
nav.pager { display: flex; gap: 1.25rem; align-items: baseline; justify-content: center; margin: 1rem 0; }
#channel-activity table { margin-bottom: .75rem; }
#channel-activity td form { margin: 0; }
.live-note { font-size: .85rem; margin: .3rem 0 0; }
.live-note::before { content: "⟳ "; }
.confirm h2 { margin-top: 0; }
.confirm ul { margin: .5rem 0 1rem; }
.check { display: flex; gap: .5rem; align-items: center; font-weight: 600; }
.check input { width: 1.1rem; height: 1.1rem; }
details.evidence { margin-top: .75rem; }
form.act { margin-top: .75rem; padding: .75rem 1rem; border: 1px dashed var(--line); border-radius: 8px; }
form.act fieldset { border: 0; padding: 0; margin: .4rem 0; }
form.act legend { font-weight: 600; }
form.act .check-inline { margin-right: 1rem; }
form.act select, .confirm textarea { font: inherit; padding: .3rem .5rem; }
.confirm textarea { width: 100%; min-height: 4rem; }
.status.done { background: var(--ok-bg); color: var(--ok); border-color: #a8d5b5; }
.status.failed { background: var(--bad-bg); color: var(--bad); border-color: #f1b0aa; }
.status.queued, .status.running { background: var(--warn-bg); color: var(--warn); border-color: #ecd18a; }
footer.tz { padding: .5rem 2rem 1.5rem; color: var(--muted); font-size: .85rem; grid-column: 2; }
`;

/** Replaces every `<time datetime>` with the time in the viewer's time zone (again for a part the page redraws). */
const LOCAL_TIME_JS = `
(function () {
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });
  window.devHostLocalTimes = function (root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.textContent = fmt.format(d);
      el.title = d.toISOString();
    });
  };
  window.devHostLocalTimes(document);
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your local time";
  document.querySelectorAll("[data-viewer-tz]").forEach(function (el) { el.textContent = zone; });
})();
`;

/** The dev host's icon: a shield, so the tab is told apart from the plugin's JSON. Served at /favicon.ico too. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path d="M16 2 4 7v8c0 7.5 5.1 13.4 12 15 6.9-1.6 12-7.5 12-15V7z" fill="#16233b"/><path d="m11 16 3.5 3.5L21.5 12" fill="none" stroke="#fff" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

/** Data for the page's script, safe inside a <script> element. */
export function jsonScript(id: string, value: unknown): Html {
  return html`<script type="application/json" id="${id}">${raw(JSON.stringify(value).replace(/</g, "\\u003c"))}</script>`;
}

/** A time rendered in the viewer's zone by the browser (UTC ISO until the script runs). */
export function time(iso: unknown): Html {
  if (typeof iso !== "string" || iso === "" || Number.isNaN(Date.parse(iso))) return html`<span class="muted">unknown</span>`;
  return html`<time datetime="${iso}">${new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")}</time>`;
}

interface LayoutOptions {
  tenantId: string;
  tenantName: string;
  page: PageId;
  section: "Settings" | "Security Operations";
  title: string;
  /** The page one level up, for a details page (Scans for a scan). */
  parent?: { label: string; href: string };
  notices?: (Notice | { tone: "warn"; text: string })[];
  body: Html;
  /** Inline scripts after the page's content. */
  scripts?: Html[];
  /** Reload the page every this many seconds (a progress view that works without JavaScript). */
  refreshSeconds?: number;
}

function navLink(href: string, label: string, current: boolean): Html {
  return html`<li><a href="${href}" ${current ? raw('aria-current="page"') : ""}>${label}</a></li>`;
}

/** The whole page. */
export function layout(o: LayoutOptions): Html {
  const t = o.tenantId;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · ${o.section} · ${o.tenantName} · Dev host</title>
<link rel="icon" type="image/svg+xml" href="/favicon.ico">
${o.refreshSeconds ? html`<meta http-equiv="refresh" content="${String(o.refreshSeconds)}">` : ""}
<style>${raw(CSS)}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">Workspace Security<small>dev host</small></span>
  <span>Organization: <strong>${o.tenantName}</strong> · Signed in as <strong data-signed-in>${devAdmin(t).name}</strong></span>
</header>
<div class="shell">
<nav class="side" aria-label="Main">
  <p class="group" id="nav-settings">Settings</p>
  <ul aria-labelledby="nav-settings">
    ${navLink(paths.bundles(t), "Bundles and Channels", o.page === "bundles")}
    ${navLink(paths.audit(t), "Audit Trail", o.page === "audit")}
  </ul>
  <p class="group" id="nav-secops">Security Operations</p>
  <ul aria-labelledby="nav-secops">
    ${navLink(paths.events(t), "Events", o.page === "events")}
    ${navLink(paths.scans(t), "Scans", o.page === "scans")}
    ${navLink(paths.irRequests(t), "IR Requests", o.page === "ir-requests")}
    ${navLink(paths.actions(t), "Response Actions", o.page === "actions")}
  </ul>
</nav>
<main id="main" tabindex="-1">
  <nav class="crumbs" aria-label="Breadcrumb"><ol><li>${o.section}</li>${o.parent ? html`<li><a href="${o.parent.href}">${o.parent.label}</a></li>` : ""}<li aria-current="page">${o.title}</li></ol></nav>
  <h1>${o.title}</h1>
  ${(o.notices ?? []).map((n) => html`<p class="notice ${n.tone}" role="${n.tone === "error" ? "alert" : "status"}">${n.text}</p>`)}
  ${o.body}
</main>
<footer class="tz">Times are shown in your time zone (<span data-viewer-tz>UTC</span>).</footer>
</div>
<script>${raw(LOCAL_TIME_JS)}</script>
${o.scripts ?? []}
</body>
</html>`;
}
