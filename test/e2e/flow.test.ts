/**
 * The admin's whole flow in the dev host's pages, in headless Chromium (playwright-core driving
 * Debian's /usr/bin/chromium): assign the bundle, see Cynet under Enabled Channels, Activate,
 * the normalized URL preview, a wrong password answered in place, Connect → Active with the
 * first sync followed live (no reload) into the sync history, Sync now, then High "Malicious
 * File in Endpoint" events a page at a time and searchable, Cynet's note on a scan and its
 * details page, the IR request, Deactivate behind its confirmation, and the audit trail of it all.
 *
 * It starts `node scripts/start.ts` itself (own process group, fresh state folder) and stops it
 * at the end, pass or fail. A screenshot of each step goes to test/artifacts/screenshots/ (not
 * committed); with UPDATE_README_SCREENSHOTS=1 the README's go to docs/screenshots/ as well.
 *
 * Run: npm run test:e2e   (Node 22; CHROMIUM_PATH overrides /usr/bin/chromium)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
const shotsDir = join(root, "test/artifacts/screenshots");
const readmeShotsDir = join(root, "docs/screenshots");
const UPDATE_README_SCREENSHOTS = process.env.UPDATE_README_SCREENSHOTS === "1";
const devVarsPath = join(root, ".dev.vars");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PORT_RANGE = { from: 18800, to: 18899 };
/** How long the three workers may take to come up (migrations, three wrangler dev servers). */
const STARTUP_TIMEOUT_MS = 180_000;
/** How long events, notes and IR requests may take to arrive after Sync now. */
const ARRIVAL_TIMEOUT_MS = 90_000;
const POLL_INTERVAL_MS = 2_000;
/**
 * How long the simulated Cynet holds the first sync's first page of alerts: long enough that
 * the page after Connect is certainly drawn while the sync has not finished, so the test sees
 * the row change from "starting" to "Succeeded" by itself.
 */
const FIRST_PAGE_DELAY_MS = 6_000;
/** Events on one page of Security Operations > Events (dev/host/ui/pages.ts EVENTS_PAGE_SIZE). */
const EVENTS_PAGE_SIZE = 25;

/** What the simulated Cynet accepts (scripts/start.ts prints the same). */
const CYNET = { typedUrl: "ACME.cynet.com/#/dashboard", normalized: "https://acme.api.cynet.com", clientId: "123456", username: "operator@acme.example", password: "Operator-Pass-1" };
/** The event type and severity the manifest declares. */
const EVENT_TYPE = "Malicious File in Endpoint";
/** Seeded scans (dev/host/seed.ts): with a file Cynet reports as malicious, by SHA-256, and with unrelated files. */
const MATCHING_SCAN = "scan-1001";
const UNRELATED_SCANS = ["scan-1002", "scan-1004", "scan-1007"];
/** A seeded scan whose file the simulated Cynet has on endpoints: the host's scanner convicts it in the flow. */
const CONVICTED_SCAN = "scan-1003";

// ---------------------------------------------------------------- the stack

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

async function freePorts(count: number, avoid: number[] = []): Promise<number[]> {
  const found: number[] = [];
  for (let port = PORT_RANGE.from; port <= PORT_RANGE.to && found.length < count; port++) {
    if (!avoid.includes(port) && (await portFree(port))) found.push(port);
  }
  if (found.length < count) throw new Error(`no ${count} free ports in ${PORT_RANGE.from}-${PORT_RANGE.to}`);
  return found;
}

/**
 * The ports a pre-existing .dev.vars pins: unless scripts/start.ts hands the plugin HOST_API_URL
 * and CYNET_ORIGIN_OVERRIDE with --var (which wins over .dev.vars), the plugin reads them there.
 */
function pinnedPorts(): { host?: number; cynet?: number } {
  if (!existsSync(devVarsPath)) return {};
  const start = readFileSync(join(root, "scripts/start.ts"), "utf8");
  if (start.includes("HOST_API_URL:") && start.includes("CYNET_ORIGIN_OVERRIDE:")) return {};
  const text = readFileSync(devVarsPath, "utf8");
  const port = (name: string) => {
    const m = new RegExp(`^\\s*${name}\\s*=\\s*"?https?://(?:127\\.0\\.0\\.1|localhost):(\\d+)`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  };
  return { host: port("HOST_API_URL"), cynet: port("CYNET_ORIGIN_OVERRIDE") };
}

interface Stack {
  child: ChildProcess;
  log: string[];
  urls: { host: string; plugin: string; cynet: string };
  persistTo: string;
  wroteDevVars: boolean;
}

async function startStack(): Promise<Stack> {
  const hadDevVars = existsSync(devVarsPath);
  const pinned = pinnedPorts();
  for (const [what, port] of Object.entries(pinned)) {
    if (port !== undefined && !(await portFree(port))) {
      throw new Error(`.dev.vars pins the ${what} to port ${port}, which is in use (is \`npm start\` running?). Stop it, or move .dev.vars away, and run again.`);
    }
  }
  const [plugin, ...spare] = await freePorts(3, [pinned.host ?? 0, pinned.cynet ?? 0]);
  const ports = { plugin: plugin!, host: pinned.host ?? spare[0]!, cynet: pinned.cynet ?? spare[1]! };
  const persistTo = mkdtempSync(join(tmpdir(), "cynet-e2e-state-"));
  const env = {
    ...process.env,
    PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH ?? ""}`,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    PLUGIN_PORT: String(ports.plugin),
    CYNET_SIM_PORT: String(ports.cynet),
    DEV_HOST_PORT: String(ports.host),
    PERSIST_TO: persistTo,
  };
  const child = spawn(process.execPath, ["scripts/start.ts"], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const log: string[] = [];
  const stack: Stack = {
    child,
    log,
    persistTo,
    wroteDevVars: !hadDevVars,
    urls: { host: `http://127.0.0.1:${ports.host}`, plugin: `http://127.0.0.1:${ports.plugin}`, cynet: `http://127.0.0.1:${ports.cynet}` },
  };
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`the stack did not say "Cynet channel is running" within ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") log.push(line);
      if (log.some((l) => l.includes("Cynet channel is running"))) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`scripts/start.ts exited with ${code} before the stack was up`));
    });
  }).catch(async (err: unknown) => {
    await stopStack(stack);
    throw new Error(`${(err as Error).message}\n--- last lines of its output ---\n${log.slice(-60).join("\n")}`);
  });
  return stack;
}

function stopStack(stack: Stack): Promise<void> {
  const { child } = stack;
  return new Promise<void>((done) => {
    const finish = () => {
      if (stack.wroteDevVars) rmSync(devVarsPath, { force: true });
      rmSync(stack.persistTo, { recursive: true, force: true });
      done();
    };
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return finish();
    const kill = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, 10_000);
    child.once("exit", () => {
      clearTimeout(kill);
      // start.ts stops its three wrangler process groups on SIGTERM and exits half a second later.
      setTimeout(finish, 1_000);
    });
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      clearTimeout(kill);
      finish();
    }
  });
}

// ---------------------------------------------------------------- helpers

/** A screenshot of the step; `readme` names the copy in docs/screenshots/ the README shows. */
async function shot(page: Page, name: string, readme?: string): Promise<void> {
  const path = join(shotsDir, `${name}.png`);
  await page.screenshot({ path });
  if (readme !== undefined && UPDATE_README_SCREENSHOTS) copyFileSync(path, join(readmeShotsDir, `${readme}.png`));
}

async function text(locator: Locator): Promise<string> {
  return (await locator.innerText()).replace(/\s+/g, " ").trim();
}

/** Reloads `page` until `check` returns a value (not undefined), or fails after `timeoutMs`. */
async function pollPage<T>(page: Page, what: string, check: () => Promise<T | undefined>, timeoutMs = ARRIVAL_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not there after ${timeoutMs / 1000} s of reloading ${page.url()}`);
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    await page.reload();
  }
}

/** The time zone the browser runs in, so "time in the viewer's time zone" is checked against a known zone. */
const VIEWER_TZ = "America/New_York";
const VIEWER_ZONE_NAMES = /\b(EST|EDT)\b/;
/** How the plugin says a file's severities (src/dispatch/severity.ts), in notes, IR requests and events alike. */
const SEVERITY_SENTENCE = /Cynet severity: [A-Za-z]+; event severity: high/;
/** A time as the plugin writes it for people ("15 Nov 2026, 00:41 UTC"), and the raw ISO form it must not write. */
const HUMAN_UTC_TIME = /\b\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC\b/;
const RAW_ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

// ---------------------------------------------------------------- the flow

test("the admin's flow in the dev host: bundle, Activate, Connect, Sync now, events, scan notes, IR requests", { timeout: 10 * 60_000 }, async (t) => {
  mkdirSync(shotsDir, { recursive: true });
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  let current = "start the stack";
  // What the Scans step read of the matched file, for the IR Requests step to hold the same story.
  let matchedSeverity = "";
  let matchedSha256 = "";
  const step = async (name: string, fn: () => Promise<void>) => {
    current = name;
    t.diagnostic(`step: ${name}`);
    await fn();
  };
  try {
    try {
      stack = await startStack();
    } catch (err) {
      // Three `wrangler dev` starting at once on one state folder sometimes trip over each other
      // (SQLITE_BUSY, an esbuild crash): that is not the flow under test, so try once more.
      t.diagnostic(`the stack did not start, trying once more: ${(err as Error).message.split("\n")[0]}`);
      stack = await startStack();
    }
    const { host, plugin } = stack.urls;
    t.diagnostic(`stack up: dev host ${host}, plugin ${plugin}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: VIEWER_TZ, locale: "en-US" });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(String(err)));

    const channels = page.locator("section", { has: page.getByRole("heading", { name: "Enabled Channels" }) });
    const assigned = page.locator("section", { has: page.getByRole("heading", { name: "Assigned Bundles" }) });
    const cynetRow = channels.locator('tr[data-channel="cynet"]');
    const notice = page.locator("main .notice").first();
    /** Waits for the page after an action to show its notice (carried by a cookie, never the URL). */
    const noticeSays = async (words: RegExp) => {
      await page.locator("main .notice", { hasText: words }).first().waitFor();
      assert.doesNotMatch(page.url(), /notice=/, "the notice is not in the URL");
      assert.doesNotMatch(await text(notice), /HTTP \d{3}/, "the notice speaks of what happened, not of HTTP");
    };
    const dialog = page.locator("dialog#activation-dialog");

    await step("Settings > Bundles and Channels with nothing assigned", async () => {
      await page.goto(`${host}/`);
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "Bundles and Channels");
      assert.match(await text(page.locator("header")), /Acme Corp/);
      assert.match(await text(assigned), /No bundle is assigned/);
      assert.equal(await cynetRow.count(), 0, "Cynet must not be under Enabled Channels before a bundle with it is assigned");
      // A link cannot put words on the page: ?notice= is not shown.
      await page.goto(`${host}/tenants/acme/settings/bundles-and-channels?tone=error&notice=Your+password+expired.+Call+0800-SPOOF`);
      assert.match(page.url(), /notice=/, "the page itself was asked, not a redirect that drops the query");
      assert.equal(await page.locator("main .notice").count(), 0, "no notice from the URL");
      assert.doesNotMatch(await text(page.locator("main")), /SPOOF/);
      const icon = await fetch(`${host}/favicon.ico`);
      assert.equal(icon.status, 200, "the dev host serves a favicon");
      assert.match(icon.headers.get("content-type") ?? "", /^image\//);
      await shot(page, "01-bundles-none-assigned");
    });

    await step("assign Email Basics: no Cynet under Enabled Channels", async () => {
      await page.getByRole("button", { name: "Assign Email Basics" }).click();
      await noticeSays(/Email Basics is assigned/);
      assert.match(await text(assigned), /Email Basics/);
      assert.equal(await cynetRow.count(), 0, "Email Basics does not include Cynet");
    });

    await step("assign Endpoint Protection: Cynet under Enabled Channels with Activate", async () => {
      await page.getByRole("button", { name: "Assign Endpoint Protection" }).click();
      await noticeSays(/Endpoint Protection is assigned\. Cynet is enabled for Acme Corp \(Endpoint Protection\)\./);
      await page.reload();
      assert.equal(await page.locator("main .notice").count(), 0, "a notice shows once, not again on reload");
      const card = assigned.locator('li[data-bundle="endpoint-protection"]');
      assert.match(await text(card.getByRole("list", { name: "Channels in Endpoint Protection" })), /Cynet/, "Bundle Settings lists Cynet");
      assert.doesNotMatch(await text(assigned.locator('li[data-bundle="email-basics"]')), /Cynet/);
      assert.equal(await cynetRow.count(), 1, "Cynet is under Enabled Channels");
      assert.equal(await text(cynetRow.locator("[data-channel-status]")), "Inactive");
      assert.equal(await cynetRow.getByRole("button", { name: "Activate Cynet" }).count(), 1);
      await cynetRow.scrollIntoViewIfNeeded();
      await shot(page, "02-cynet-enabled");
    });

    await step("the Cynet Activation dialog: labels, keyboard, focus, URL preview", async () => {
      const activate = cynetRow.getByRole("button", { name: "Activate Cynet" });
      await activate.click();
      await dialog.waitFor({ state: "visible" });
      assert.equal(await text(dialog.getByRole("heading", { level: 2 })), "Cynet Activation");
      // Rendered from the manifest: every field's label is bound to its input.
      const manifest = (await (await fetch(`${plugin}/v1/manifest`)).json()) as { activation: { submitLabel: string; fields: { name: string; label: string; secret: boolean; placeholder: string }[] } };
      for (const field of manifest.activation.fields) {
        const input = dialog.getByLabel(field.label, { exact: false });
        assert.equal(await input.count(), 1, `a field labelled "${field.label}"`);
        assert.equal(await input.getAttribute("name"), field.name);
        assert.equal(await input.getAttribute("placeholder"), field.placeholder);
        if (field.secret) assert.equal(await input.getAttribute("type"), "password", `${field.name} is a password input`);
      }
      assert.equal(await dialog.getByRole("button", { name: manifest.activation.submitLabel }).count(), 1);
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "orgUrl", "focus goes to the first field");
      // Esc closes; the keyboard opens it again.
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      await activate.focus();
      await page.keyboard.press("Enter");
      await dialog.waitFor({ state: "visible" });
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "orgUrl");
      // Visible focus on a field reached with Tab.
      await page.keyboard.press("Tab");
      const focus = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const style = getComputedStyle(el);
        return { name: el.getAttribute("name"), focusVisible: el.matches(":focus-visible"), outline: `${style.outlineStyle} ${style.outlineWidth}` };
      });
      assert.equal(focus.name, "clientId");
      assert.ok(focus.focusVisible && !focus.outline.startsWith("none") && !focus.outline.endsWith(" 0px"), `visible focus outline, got ${JSON.stringify(focus)}`);
      // The normalized URL as the admin types.
      await dialog.getByLabel("Organization's URL in Cynet").pressSequentially(CYNET.typedUrl, { delay: 10 });
      const preview = dialog.locator("#orgUrl-normalized");
      assert.equal(await text(preview), CYNET.normalized);
      assert.match(await text(preview), /acme\.api\.cynet\.com/);
      await shot(page, "03-activation-dialog-url-preview");
    });

    await step("a wrong password: the plugin's message under the password field", async () => {
      await dialog.getByLabel("Client ID").fill(CYNET.clientId);
      await dialog.getByLabel("Cynet Username").fill(CYNET.username);
      await dialog.getByLabel("Password").fill("Not-The-Password-1");
      const answered = page.waitForResponse((r) => r.url().endsWith("/activation") && r.request().method() === "POST");
      await page.keyboard.press("Enter"); // Enter submits
      const response = await answered;
      const body = (await response.json()) as { error?: string; message?: string; field?: string };
      assert.equal(response.status(), 422, `the plugin refuses a wrong password with 422, got ${response.status()} ${JSON.stringify(body)}`);
      assert.equal(body.field, "password");
      const error = dialog.locator("#f-password-error");
      await error.waitFor({ state: "visible" });
      assert.equal((await error.textContent())?.trim(), body.message, "the plugin's own message, in place");
      assert.equal(await dialog.getByLabel("Password").getAttribute("aria-invalid"), "true");
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "password", "focus moves to the field to fix");
      assert.ok(await dialog.evaluate((d) => (d as HTMLDialogElement).open), "the dialog stays open");
      await shot(page, "04-wrong-password", "activation-wrong-password");
    });

    await step("the right password: Connect makes the channel Active; the first sync is followed live", async () => {
      // Cynet holds the first sync's first page (the probe at Connect is the first alerts call), so the
      // page after Connect is drawn mid-sync whatever the machine's speed.
      const fault = await fetch(`${stack!.urls.cynet}/__sim/worlds/acme/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ endpoint: "alerts", delayMs: FIRST_PAGE_DELAY_MS, afterCalls: 1, times: 1 }),
      });
      assert.equal(fault.status, 201, `the simulator took the delay rule: ${await fault.text()}`);
      // The host refuses the first IR request for good (400), so it shows among failed deliveries with a Retry.
      const refusal = await fetch(`${host}/__host/tenants/acme/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ endpoint: "ir-requests", status: 400, times: 1 }),
      });
      assert.equal(refusal.status, 201, `the dev host took the refusal rule: ${await refusal.text()}`);
      await dialog.getByLabel("Password").fill(CYNET.password);
      await dialog.getByRole("button", { name: "Connect" }).click();
      await noticeSays(/Connected to Cynet\. The first sync has started\./);
      assert.equal(await text(cynetRow.locator("[data-channel-status]")), "Active");
      const details = await text(cynetRow);
      assert.match(details, /https:\/\/acme\.api\.cynet\.com/);
      assert.match(details, /Last sync/);
      assert.equal(await cynetRow.getByRole("button", { name: "Deactivate Cynet" }).count(), 1);
      assert.equal(await cynetRow.getAttribute("data-live"), "true", "the row follows the first sync");
      assert.doesNotMatch(await text(cynetRow.locator("[data-last-sync]")), /Succeeded/, "drawn before the first sync finished");
      await cynetRow.scrollIntoViewIfNeeded();
      await shot(page, "05-cynet-active-syncing", "channel-syncing");
      // Without a reload: the same document sees the row settle on the finished sync.
      await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
      await page.locator('tr[data-channel="cynet"][data-live="false"]').waitFor({ timeout: ARRIVAL_TIMEOUT_MS });
      assert.equal(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), true, "the page was not reloaded");
      assert.match(await text(cynetRow.locator("[data-last-sync]")), /^Succeeded .*\(first sync after Connect\): \d+ alerts read, \d+ new malicious files, \d+ events queued\.$/);
      assert.match(await text(cynetRow.locator("[data-last-sync]")), VIEWER_ZONE_NAMES, "redrawn times in the viewer's zone too");
      assert.match(await text(cynetRow.locator("[data-deliveries]")), /^events: \d+ delivered/);
      const history = page.locator("#channel-activity [data-sync-history]");
      const firstRun = history.locator("tr[data-run-id]").first();
      assert.match(await text(firstRun), /first sync after Connect Succeeded \d+ \d+ \d+/);
      await cynetRow.scrollIntoViewIfNeeded();
      await shot(page, "05b-first-sync-done");
    });

    await step("a delivery the host refused: listed with the host's reason, Retry delivers it", async () => {
      const failedRows = page.locator("#channel-activity table.failed tr[data-delivery-id]");
      // The refusal is recorded as the dispatch consumer meets it, which may be after the row settled.
      await pollPage(page, "the refused IR request among the failed deliveries", async () => ((await failedRows.count()) > 0 ? true : undefined));
      assert.equal(await failedRows.count(), 1, "one delivery refused");
      assert.match(await text(failedRows.first()), /^IR request .* 1 .*400/);
      await page.locator("#channel-activity").scrollIntoViewIfNeeded();
      await shot(page, "05c-failed-delivery", "sync-history");
      await failedRows.first().getByRole("button", { name: /^Retry delivery \d+$/ }).click();
      await noticeSays(/Retry queued for 1 failed delivery\. Each reaches this host once\./);
      await page.locator('#channel-activity [data-failed-deliveries="0"]').waitFor({ timeout: ARRIVAL_TIMEOUT_MS });
      await page.locator('tr[data-channel="cynet"][data-live="false"]').waitFor({ timeout: ARRIVAL_TIMEOUT_MS });
      assert.match(await text(cynetRow.locator("[data-deliveries]")), /IR requests: \d+ delivered$/, "nothing failed or on the way");
    });

    await step("Sync now: queued, followed live, counted in the sync history", async () => {
      const history = page.locator("#channel-activity [data-sync-history]");
      const runsBefore = await history.locator("tr[data-run-id]").count();
      await cynetRow.getByRole("button", { name: "Sync now" }).click();
      await noticeSays(/Sync queued\./);
      await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
      // The manual sync either finds nothing new (counted beside the list) or adds a run: either shows up without a reload.
      await page.waitForFunction(
        (before) => {
          const h = document.querySelector("#channel-activity [data-sync-history]");
          return h !== null && (h.querySelector("[data-quiet-runs]") !== null || h.querySelectorAll("tr[data-run-id]").length > before);
        },
        runsBefore,
        { timeout: ARRIVAL_TIMEOUT_MS, polling: 500 },
      );
      assert.equal(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), true, "the page was not reloaded");
      const said = await text(history);
      assert.match(said, /found nothing new|Sync now/);
      t.diagnostic(`sync history after Sync now: ${said.slice(0, 200)}`);
      await page.locator('tr[data-channel="cynet"][data-live="false"]').waitFor({ timeout: ARRIVAL_TIMEOUT_MS });
      await page.locator("#channel-activity").scrollIntoViewIfNeeded();
      await shot(page, "06-sync-now");
    });

    await step('Security Operations > Events: High "Malicious File in Endpoint" events', async () => {
      await page.getByRole("link", { name: "Events" }).click();
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "Events");
      const rows = page.locator("table.events tbody.event");
      const count = await pollPage(page, "events", async () => ((await rows.count()) > 0 ? rows.count() : undefined));
      t.diagnostic(`${count} events listed`);
      const headers = await page.locator("table.events thead th").allInnerTexts();
      assert.deepEqual(headers.slice(0, 4), ["Time", "Type", "Severity", "Title"]);
      const cells = await rows.evaluateAll((events) => events.map((e) => [...e.querySelectorAll("tr.event-row > td")].map((td) => td.textContent?.trim() ?? "")));
      for (const [, type, severity] of cells) {
        assert.equal(type, EVENT_TYPE);
        assert.equal(severity, "High");
      }
      const times = await rows.locator("tr.event-row > td:first-child time").evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute("datetime") ?? "")));
      assert.ok(times.every((ms, i) => i === 0 || ms <= times[i - 1]!), "newest first");
      assert.match(await text(rows.first().locator("tr.event-row > td").first()), VIEWER_ZONE_NAMES, `time shown in the viewer's zone (${VIEWER_TZ})`);
      const first = rows.first();
      await first.locator("summary").first().click();
      const details = await text(first.locator("details").first());
      for (const label of ["File", "Name", "Path", "SHA-256", "Endpoint", "Host", "Cynet alert", "Alert ID", "Cynet severity", "Incident", "Detected"]) {
        assert.match(details, new RegExp(`\\b${label}\\b`), `event details show ${label}`);
      }
      assert.match(details, /[0-9a-f]{64}/, "a SHA-256 in the details");
      // Cynet leaves some fields out of some alerts; across the events, each shows up.
      const terms = await rows.locator("details dl.facts dt").allTextContents();
      for (const label of ["IP", "User", "Status"]) assert.ok(terms.includes(label), `some event's details show the endpoint's or alert's ${label}`);
      t.diagnostic(`events showing MD5: ${terms.filter((x) => x === "MD5").length}, SHA-1: ${terms.filter((x) => x === "SHA-1").length}`);
      assert.match(details, new RegExp(`In Cynet Alert \\d+ in the organization ${CYNET.normalized.replace(/\./g, "\\.")}`), "where the alert is in Cynet");
      await shot(page, "07-events", "events");

      // A page at a time.
      assert.ok(count <= EVENTS_PAGE_SIZE, `at most ${EVENTS_PAGE_SIZE} events on a page, got ${count}`);
      const total = Number(/of (\d+) events|^(\d+) events/.exec(await text(page.locator("[data-count=events]")))?.slice(1).find((x) => x !== undefined));
      t.diagnostic(`${total} events in all`);
      if (total > EVENTS_PAGE_SIZE) {
        const pages = Math.ceil(total / EVENTS_PAGE_SIZE);
        assert.equal(await text(page.locator("[data-page-of]")), `Page 1 of ${pages}`);
        const firstPageIds = await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-event-id")));
        await page.getByRole("link", { name: "Older →" }).click();
        await page.locator("[data-page-of]", { hasText: `Page 2 of ${pages}` }).waitFor();
        const secondPageIds = await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-event-id")));
        assert.ok(secondPageIds.length > 0 && secondPageIds.every((id) => !firstPageIds.includes(id)), "page 2 holds other events");
        const lastOfFirst = times.at(-1)!;
        const firstOfSecond = await rows.first().locator("tr.event-row time").getAttribute("datetime");
        assert.ok(Date.parse(firstOfSecond ?? "") <= lastOfFirst, "page 2 continues newest first");
        await page.getByRole("link", { name: "← Newer" }).click();
        await page.locator("[data-page-of]", { hasText: `Page 1 of ${pages}` }).waitFor();
      }

      // Search by a file's SHA-256: only the events of that file.
      const sha256 = /[0-9a-f]{64}/.exec(details)![0];
      await page.getByRole("searchbox", { name: "Find events" }).fill(sha256.slice(0, 20).toUpperCase());
      await page.getByRole("button", { name: "Search" }).click();
      await page.locator("[data-count=events]", { hasText: "matching" }).waitFor();
      const found = await rows.count();
      assert.ok(found >= 1, "the search finds the event it was taken from");
      for (const row of await rows.all()) assert.match(await row.locator("details").first().evaluate((d) => d.textContent ?? ""), new RegExp(sha256));
      // And by host name.
      const hostName = await first.locator("details dl.facts dt", { hasText: /^Host$/ }).locator("xpath=following-sibling::dd[1]").textContent();
      assert.ok(hostName, "the event names its endpoint");
      await page.getByRole("searchbox", { name: "Find events" }).fill(hostName!.toLowerCase());
      await page.getByRole("button", { name: "Search" }).click();
      await page.locator("[data-count=events]", { hasText: `matching “${hostName!.toLowerCase()}”` }).waitFor();
      for (const title of await rows.locator("tr.event-row > td:nth-child(4)").allInnerTexts()) assert.ok(title.includes(hostName!), `"${title}" is on ${hostName}`);
      await page.getByRole("searchbox", { name: "Find events" }).fill("no-such-file-anywhere.exe");
      await page.getByRole("button", { name: "Search" }).click();
      await page.locator("[data-count=events]", { hasText: "No event matches" }).waitFor();
      assert.equal(await rows.count(), 0);
    });

    await step("Scans: a scan shows Cynet's note", async () => {
      await page.getByRole("link", { name: "Scans" }).click();
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "Scans");
      const scan = page.locator(`article[data-scan-id="${MATCHING_SCAN}"]`);
      const notes = scan.locator(".notes li");
      await pollPage(page, `a note on ${MATCHING_SCAN}`, async () => ((await notes.count()) > 0 ? true : undefined));
      assert.equal(await text(notes.first().locator(".note-author")), "Cynet");
      const note = await text(notes.first().locator(".note-text"));
      assert.match(note, /malicious/i, `the note says Cynet found the file malicious, got: ${note}`);
      const fileName = await text(scan.getByRole("heading", { level: 2 }));
      assert.ok(note.includes(fileName.split(" ")[0]!), `the note names the file (${fileName}), got: ${note}`);
      assert.match(await text(notes.first()), VIEWER_ZONE_NAMES);
      // One severity story, said the same way in the note, the IR request and the event: Cynet's
      // rating in Cynet's words beside the event's high.
      const noteSeverity = note.match(SEVERITY_SENTENCE);
      assert.ok(noteSeverity, `the note says the severities in one sentence, got: ${note}`);
      matchedSeverity = noteSeverity[0];
      // Times people read, with the zone; the machine values stay in the structured details.
      assert.match(note, HUMAN_UTC_TIME, `the note writes times people read, got: ${note}`);
      assert.doesNotMatch(note, RAW_ISO_TIME, `no raw ISO times in the note, got: ${note}`);
      for (const id of UNRELATED_SCANS) {
        assert.equal(await page.locator(`article[data-scan-id="${id}"] .notes li`).count(), 0, `no note on ${id}, whose file Cynet never reported`);
      }
      const md5Only = await page.locator('article[data-scan-id="scan-1006"] .notes li').count();
      t.diagnostic(`scan-1006 (matched by MD5 only): ${md5Only} note(s)`);
      await scan.evaluate((el) => el.scrollIntoView({ block: "start" }));
      await shot(page, "08-scan-note");
      // The scan's own page: the file and its hashes, the notes and the IR requests about it.
      await scan.getByRole("heading", { level: 2 }).getByRole("link").click();
      await page.waitForURL(new RegExp(`/security/scans/${MATCHING_SCAN}$`));
      assert.equal(await text(page.getByRole("heading", { level: 1 })), fileName.split(" ")[0]);
      const files = page.getByRole("table", { name: "Files in this scan" });
      assert.match(await text(files), /SHA-256 [0-9a-f]{64}/);
      matchedSha256 = (await text(files)).match(/SHA-256 ([0-9a-f]{64})/)![1]!;
      assert.match(await text(page.locator("section", { has: page.getByRole("heading", { name: /^Notes/ }) })), /malicious/i);
      const irSection = page.locator("section#ir-requests");
      await pollPage(page, `an IR request on ${MATCHING_SCAN}'s page`, async () => ((await irSection.locator("li[data-request-id]").count()) > 0 ? true : undefined));
      assert.match(await text(irSection), /Open · (High|Critical) priority · received/);
      await shot(page, "08b-scan-details", "scan-details");
      const missing = await page.request.get(`${host}/tenants/acme/security/scans/scan-does-not-exist`);
      assert.equal(missing.status(), 404);
      assert.match(await missing.text(), /There is no scan/);
    });

    await step("IR Requests: the IR team's queue holds the request", async () => {
      await page.getByRole("link", { name: "IR Requests" }).click();
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "IR Requests");
      const requests = page.locator("article.ir");
      const forScan = page.locator(`article.ir[data-scan-id="${MATCHING_SCAN}"]`);
      await pollPage(page, `an IR request for ${MATCHING_SCAN}`, async () => ((await forScan.count()) > 0 ? true : undefined));
      const request = await text(forScan.first());
      for (const label of ["Status Open", "Priority", "Scan", "Received", "Description", "Evidence"]) assert.match(request, new RegExp(label));
      const evidence = forScan.first().locator("details.evidence");
      assert.equal(await evidence.evaluate((d) => (d as HTMLDetailsElement).open), false, "evidence is folded until asked for");
      await evidence.locator("summary").click();
      assert.match(await text(evidence), /sha256/);
      const received = await requests.locator("dd time").evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute("datetime") ?? "")));
      assert.ok(received.every((ms, i) => i === 0 || ms <= received[i - 1]!), "newest first");
      assert.ok((await text(forScan.first().getByRole("heading", { level: 2 }))).length > 0, "a subject");
      const description = await text(forScan.first().locator(".ir-description"));
      assert.ok(description.length > 0, "a description");
      assert.ok(matchedSeverity && description.includes(matchedSeverity), `the IR request says the note's "${matchedSeverity}", got: ${description}`);
      assert.doesNotMatch(description, RAW_ISO_TIME, `no raw ISO times in the description, got: ${description}`);
      // Its priority follows the one rule (docs/operations.md, Severity): critical when Cynet says Critical, else high.
      assert.match(request, matchedSeverity.startsWith("Cynet severity: Critical;") ? /Priority Critical/ : /Priority High/);
      // The file's events say high, with Cynet's own rating beside it.
      await page.goto(`${host}/tenants/acme/security/events?q=${matchedSha256}`);
      const fileEvents = page.locator("tr.event-row");
      assert.ok((await fileEvents.count()) > 0, `events for ${matchedSha256}`);
      for (const row of await fileEvents.all()) assert.match(await text(row), /High/);
      await page.goto(`${host}/tenants/acme/security/ir-requests`);
      assert.match(request, VIEWER_ZONE_NAMES);
      t.diagnostic(`${await requests.count()} IR requests listed`);
      await shot(page, "09-ir-requests");
    });

    await step("Scans: the host's scanner convicts a file; the endpoints Cynet has it on come back as a note and events", async () => {
      await page.goto(`${host}/tenants/acme/security/scans/${CONVICTED_SCAN}`);
      assert.match(await text(page.locator("[data-verdict]")), /Not convicted/);
      await page.getByRole("button", { name: /^Convict this file/ }).click();
      await page.waitForURL(new RegExp(`/security/scans/${CONVICTED_SCAN}$`));
      assert.match(await text(page.locator("p.notice")), /is convicted\. Cynet looks for it on the endpoints/);
      assert.match(await text(page.locator("[data-verdict]")), /Malicious, convicted/);
      const note = await pollPage(page, `the attachment note on ${CONVICTED_SCAN}`, async () =>
        (await page.locator(".notes .note-text").allInnerTexts()).find((n) => n.includes("Cynet has the attachment this scan convicted on")),
      );
      assert.match(note, /on \d+ endpoints?: /, `the note names the endpoints, got: ${note}`);
      await shot(page, "09b-convicted-scan");
      const sha256 = (await text(page.getByRole("table", { name: "Files in this scan" }))).match(/SHA-256 ([0-9a-f]{64})/)![1]!;
      await page.goto(`${host}/tenants/acme/security/events?q=${sha256}`);
      const attachment = page.locator("tr.event-row", { hasText: "Malicious Attachment on Endpoint" });
      assert.ok((await attachment.count()) > 0, "an attachment event per endpoint");
      for (const row of await attachment.all()) assert.match(await text(row), /High|Critical/);
    });

    await step("Act in Cynet from the IR request: quarantine on its endpoints, confirm naming the hosts, follow it to its result", async () => {
      await page.goto(`${host}/tenants/acme/security/ir-requests`);
      const request = page.locator(`article.ir[data-scan-id="${MATCHING_SCAN}"]`).first();
      const form = request.locator("form.act");
      await form.getByLabel("Action").selectOption({ label: "Quarantine file" });
      const hosts = await form.locator('input[name="host"]').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
      assert.ok(hosts.length > 0, "the form offers the request's endpoints");
      await form.getByRole("button", { name: "Review action…" }).click();
      await page.waitForURL(/\/security\/actions\/new\?/);
      assert.match(await text(page.getByRole("heading", { level: 1 })), /^Confirm: Quarantine file$/);
      const named = await page.locator("[data-confirm-host]").allTextContents();
      assert.deepEqual(named.map((h) => h.trim()), hosts, "the confirmation names every host");
      await page.getByLabel("Reason (optional, kept in the audit trail and the note)").fill("Convicted attachment, e2e");
      // Not without the box (the page holds without JavaScript: the dev host checks it too).
      const box = page.getByLabel(/^I confirm: quarantine file on /);
      await page.getByRole("button", { name: "Quarantine file" }).click();
      assert.equal(await box.evaluate((el) => (el as HTMLInputElement).validity.valueMissing), true);
      const unconfirmed = await page.request.post(`${host}/tenants/acme/security/actions`, { form: { action: "quarantine_file", host: hosts[0]!, sha256: matchedSha256 } });
      assert.equal(unconfirmed.status(), 400);
      assert.match(await unconfirmed.text(), /Tick the box to confirm/);
      await box.check();
      await shot(page, "12-action-confirm");
      await page.getByRole("button", { name: "Quarantine file" }).click();
      await page.waitForURL(/\/security\/actions\/[0-9a-f-]{36}$/);
      assert.match(await text(page.locator("main")), /Asked by Dev Host Admin/);
      // The page follows the plugin until Cynet's items settle (it reloads itself).
      const state = page.locator("[data-action-state]");
      await page.waitForFunction(() => /^(Done|Failed)$/.test(document.querySelector("[data-action-state]")?.textContent ?? ""), undefined, { timeout: 150_000, polling: 1_000 });
      assert.equal(await text(state), "Done");
      const items = await page.locator("[data-status-info]").allTextContents();
      assert.equal(items.length, hosts.length, "one remediation item per host");
      for (const words of items) assert.equal(words, "File quarantined", "Cynet's words for each item");
      await shot(page, "13-action-done");
      // The outcome is noted on the scan.
      await pollPage(page, `the action's note on ${MATCHING_SCAN}`, async () => {
        await page.goto(`${host}/tenants/acme/security/scans/${MATCHING_SCAN}`);
        const note = page.locator(".note-text", { hasText: /^Cynet response action Quarantine file/ });
        return (await note.count()) > 0 ? text(note.first()) : undefined;
      });
    });

    await step("Deactivate: a confirmation first, then the row says what the plugin says", async () => {
      await page.getByRole("link", { name: "Bundles and Channels" }).click();
      await cynetRow.getByRole("button", { name: "Deactivate Cynet" }).click();
      await page.waitForURL(/\/deactivate\??$/);
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "Deactivate Cynet");
      assert.match(await text(page.locator("main")), /credentials stored for Acme Corp \(user operator@acme\.example at https:\/\/acme\.api\.cynet\.com\) are destroyed/);
      await shot(page, "10-deactivate-confirm", "deactivate-confirm");
      // Not without the box: the browser holds the form back...
      const box = page.getByLabel("I understand the Cynet credentials are destroyed");
      await page.getByRole("button", { name: "Deactivate Cynet" }).click();
      assert.equal(await box.evaluate((el) => (el as HTMLInputElement).validity.valueMissing), true);
      assert.match(page.url(), /\/deactivate\??$/, "still on the confirmation");
      // ...and the dev host refuses a form without it (a browser without the required check, or no JavaScript at all).
      const unconfirmed = await page.request.post(page.url(), { form: {} });
      assert.equal(unconfirmed.status(), 400);
      assert.match(await unconfirmed.text(), /Tick the box to confirm/);
      await box.check();
      await page.getByRole("button", { name: "Deactivate Cynet" }).click();
      await noticeSays(/Cynet is deactivated: its credentials are destroyed and syncing has stopped\. What it delivered stays\./);
      assert.equal(await text(cynetRow.locator("[data-channel-status]")), "Inactive");
      assert.equal(await cynetRow.locator("dt", { hasText: /^Connected$/ }).count(), 0, "no longer says Connected");
      assert.match(await text(cynetRow.locator("[data-connection]")), /^Not connected: no credentials are stored; last connected /);
      assert.equal(await cynetRow.getByRole("button", { name: "Activate Cynet" }).count(), 1);
      await shot(page, "11-deactivated");
    });

    await step("Settings > Audit Trail: every change above, newest first, by the signed-in admin (findings by the scanner), never the password", async () => {
      await page.getByRole("link", { name: "Audit Trail" }).click();
      await page.waitForURL(/\/settings\/audit$/);
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "Audit Trail");
      const rows = page.locator("table.audit tbody tr[data-audit-id]");
      const actions = await rows.evaluateAll((trs) => trs.map((tr) => `${tr.getAttribute("data-action")}:${tr.getAttribute("data-outcome")}`));
      assert.equal(actions[0], "deactivated:succeeded", "the newest entry is the deactivation");
      const expectedEntries = [
        "sync_requested:accepted",
        "delivery_retried:accepted",
        "connected:succeeded",
        "connect_refused:refused",
        "enablement_changed:succeeded",
        "findings_submitted:accepted",
        "action_requested:accepted",
        "action_finished:succeeded",
      ];
      for (const expected of expectedEntries) {
        assert.ok(actions.includes(expected), `the trail holds ${expected}: ${actions.join(", ")}`);
      }
      // Newer first: the deactivation after Sync now after the retry after Connect after the refused Connect.
      const order = ["deactivated:succeeded", "sync_requested:accepted", "delivery_retried:accepted", "connected:succeeded", "connect_refused:refused"].map((a) => actions.indexOf(a));
      assert.deepEqual(order, [...order].sort((x, y) => x - y), `newest first: ${actions.join(", ")}`);
      const who = await rows.locator("[data-actor]").evaluateAll((tds) => [...new Set(tds.map((td) => (td as HTMLElement).innerText.replace(/\s+/g, " ").trim()))]);
      assert.deepEqual(who.sort(), ["Dev Host Admin admin@acme.example", "Dev host attachment scanner dev-host-scanner"], "the admin the dev host signed in, and its scanner");
      // The scanner submits the findings; every change a person made names the admin.
      const scanner = await page.locator('table.audit tbody tr[data-action="findings_submitted"] [data-actor]').allInnerTexts();
      assert.ok(scanner.length > 0 && scanner.every((a) => /dev-host-scanner/.test(a)), `findings are the scanner's: ${scanner.join(", ")}`);
      const refused = page.locator('table.audit tbody tr[data-action="connect_refused"]');
      assert.match(await text(refused), /Connect refused https:\/\/acme\.api\.cynet\.com Refused Cynet rejected the username or password/);
      assert.doesNotMatch(await text(page.locator("main")), /Not-The-Password-1|Operator-Pass-1/, "no password on the page");
      await shot(page, "12-audit-trail", "audit-trail");
      // Only one kind of change.
      await page.getByLabel("Show", { exact: true }).selectOption("connect_refused");
      await page.getByRole("button", { name: "Show", exact: true }).click();
      await page.waitForURL(/action=connect_refused/);
      const only = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action")));
      assert.deepEqual(only, ["connect_refused"]);
    });

    assert.deepEqual(pageErrors, [], "no script errors on the pages");
  } catch (err) {
    const where = `E2E step failed: ${current}`;
    const tail = stack ? `\n--- last lines of npm start ---\n${stack.log.slice(-40).join("\n")}` : "";
    if (err instanceof Error) err.message = `${where}\n${err.message}${tail}`;
    throw err;
  } finally {
    await browser?.close().catch(() => undefined);
    if (stack) {
      writeFileSync(join(tmpdir(), "cynet-e2e-last-run.log"), stack.log.join("\n"));
      await stopStack(stack);
    }
  }
});
