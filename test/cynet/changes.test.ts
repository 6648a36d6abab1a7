/** Alerts changed since a time (alerts/bulkByDateChanged), read through the Cynet client against the simulator. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ChangedAlertsUnavailableError, fetchAlertsPage, fetchChangedAlertsPage, login, type CynetSession } from "../../src/cynet/client";
import { retryWaitMs } from "../../src/cynet/retry";
import { CynetAlert } from "../../src/cynet/schemas";
import { CynetError, cynetTarget } from "../../src/cynet/transport";
import { CynetWorld, OPERATOR, CLIENT_ID, type WorldSetup } from "../support/standins";

/** Where the worlds' generated history ends: an hour back, so no alert was raised or changed after a test starts. */
const EPOCH = new Date(Date.now() - 60 * 60 * 1000).toISOString();
/** A time before every generated alert (20 days of history before the epoch), so a read from it lists them all. */
const LONG_AGO = new Date(Date.parse(EPOCH) - 30 * 86_400_000);
/** A page larger than any world here, so one call lists everything. */
const WHOLE = 100;
/** A page smaller than the changed set, so paging crosses several pages. */
const SMALL_PAGE = 7;
/** Pages read at most in a paging test: far more than 25 alerts at 7 a page need, bounds a broken Offset. */
const MAX_PAGES = 20;

/**
 * What a caller reads of a changed alert: the plugin's alert schema, plus DateChanged, which the
 * plugin does not read yet (the sync that will is a later change).
 */
const ChangedAlert = CynetAlert.extend({ DateChanged: z.string() });
type ChangedAlert = z.infer<typeof ChangedAlert>;

async function newWorld(setup: WorldSetup = {}): Promise<{ world: CynetWorld; session: CynetSession; ids: number[] }> {
  const world = await new CynetWorld().setup({ alertCount: 30, seed: 7, epoch: EPOCH, ...setup });
  const target = cynetTarget(env, world.orgUrl);
  const session = { target, accessToken: await login(target, OPERATOR.username, OPERATOR.password), clientId: CLIENT_ID };
  const ids = (await world.alerts()).map((a) => z.object({ ClientDbId: z.number() }).parse(a).ClientDbId);
  return { world, session, ids };
}

async function changedSince(session: CynetSession, since: Date, limit = WHOLE, offset = 0): Promise<ChangedAlert[]> {
  const page = await fetchChangedAlertsPage(session, since, limit, offset);
  return page.Entities.map((e) => ChangedAlert.parse(e));
}

const idsOf = (alerts: { ClientDbId?: number | undefined }[]) => alerts.map((a) => a.ClientDbId);

describe("alerts changed since a time", () => {
  it("lists the alerts whose Status changed after the time, oldest change first then by id, and none of the others", async () => {
    const { world, session, ids } = await newWorld();
    const since = new Date();
    const [a, b, c, d] = [ids[3]!, ids[11]!, ids[20]!, ids[5]!];
    await world.setStatus([b, a], 2);
    await world.setStatus([c], 3);
    await world.setStatus([d], 0);

    const listed = await changedSince(session, since);
    expect(new Set(idsOf(listed))).toEqual(new Set([a, b, c, d]));
    expect(listed).toHaveLength(4);
    expect(Object.fromEntries(listed.map((x) => [x.ClientDbId, x.Status]))).toEqual({ [a]: 2, [b]: 2, [c]: 3, [d]: 0 });
    const ordered = [...listed].sort((x, y) => Date.parse(x.DateChanged) - Date.parse(y.DateChanged) || x.ClientDbId! - y.ClientDbId!);
    expect(idsOf(listed)).toEqual(idsOf(ordered));
    for (const x of listed) expect(Date.parse(x.DateChanged)).toBeGreaterThanOrEqual(Math.floor(since.getTime() / 1000) * 1000);

    // Before the changes, every alert counts as changed when it was raised: all 30 are listed once.
    expect(new Set(idsOf(await changedSince(session, LONG_AGO))).size).toBe(30);
  });

  it("lists nothing when no alert changed since the time", async () => {
    const { session } = await newWorld();
    const page = await fetchChangedAlertsPage(session, new Date(), WHOLE, 0);
    expect(page.Entities).toEqual([]);
    expect(Number.isNaN(Date.parse(page.SyncTimeUtc))).toBe(false);
  });

  it("pages with Limit and Offset, each changed alert exactly once, ending on an empty page", async () => {
    const { world, session, ids } = await newWorld();
    const since = new Date();
    const changed = [ids[29]!, ids[0]!, ids[14]!, ...ids.slice(2, 12), ...ids.slice(16, 28)];
    for (let i = 0; i < changed.length; i += 5) await world.setStatus(changed.slice(i, i + 5), i % 2 === 0 ? 2 : 3);

    const seen: number[] = [];
    const sizes: number[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const entities = await changedSince(session, since, SMALL_PAGE, seen.length);
      sizes.push(entities.length);
      seen.push(...entities.map((e) => e.ClientDbId!));
      if (entities.length === 0) break;
    }
    expect(sizes).toEqual([7, 7, 7, 4, 0]);
    expect(seen).toHaveLength(changed.length);
    expect(new Set(seen)).toEqual(new Set(changed));
  });

  it("lists an alert changed twice once, with the later Status and DateChanged", async () => {
    const { world, session, ids } = await newWorld();
    const since = new Date();
    const id = ids[9]!;
    const [first] = (await world.setStatus([id], 2)).map((a) => ChangedAlert.parse(a));
    const [second] = (await world.setStatus([id], 3)).map((a) => ChangedAlert.parse(a));

    const listed = await changedSince(session, since);
    expect(idsOf(listed)).toEqual([id]);
    expect(listed[0]!.Status).toBe(3);
    expect(listed[0]!.DateChanged).toBe(second!.DateChanged);
    expect(Date.parse(listed[0]!.DateChanged)).toBeGreaterThanOrEqual(Date.parse(first!.DateChanged));
  });

  it("says a Cynet without the endpoint does not offer changed alerts: a final 404, not a retry", async () => {
    const { world, session, ids } = await newWorld({ changedAlertsUnavailable: true });
    await world.setStatus([ids[0]!], 3);
    const err: unknown = await fetchChangedAlertsPage(session, LONG_AGO, WHOLE, 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChangedAlertsUnavailableError);
    expect(err).toBeInstanceOf(CynetError);
    expect(err).toMatchObject({ failure: "http", status: 404 });
    expect(retryWaitMs(err, 0)).toBeUndefined();
  });

  it("keeps other failures what fetchAlertsPage would throw: Cynet busy is a transient http error, garbage is malformed", async () => {
    const { world, session } = await newWorld();
    await world.fault({ endpoint: "changes", status: 503, times: 1 });
    const busy: unknown = await fetchChangedAlertsPage(session, LONG_AGO, WHOLE, 0).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(CynetError);
    expect(busy).not.toBeInstanceOf(ChangedAlertsUnavailableError);
    expect(busy).toMatchObject({ failure: "http", status: 503 });
    expect(retryWaitMs(busy, 0)).toBe(1_000);

    await world.fault({ endpoint: "changes", malformed: true, times: 1 });
    await expect(fetchChangedAlertsPage(session, LONG_AGO, WHOLE, 0)).rejects.toMatchObject({ failure: "malformed" });
  });

  it("leaves alerts/bulk as it was when the endpoint is missing", async () => {
    const withChanges = await newWorld();
    const without = await newWorld({ changedAlertsUnavailable: true });
    const read = async (session: CynetSession) => (await fetchAlertsPage(session, LONG_AGO, WHOLE, 0)).Entities;
    const expected = await read(withChanges.session);
    expect(expected).toHaveLength(30);
    expect(await read(without.session)).toEqual(expected);
  });
});

describe("the simulator's scheduled decisions (decisionEverySeconds)", () => {
  it("changes one file alert's status per interval since the epoch, made when asked, alike for worlds of one seed", async () => {
    const { World } = await import("../../dev/cynet-sim/world");
    const epoch = Date.parse("2026-11-30T12:00:00Z");
    const make = () => new World("decide", { alertCount: 200, seed: 11, epoch: new Date(epoch).toISOString(), decisionEverySeconds: 60 }, epoch);
    const [one, two] = [make(), make()];
    const at = epoch + 5.5 * 60_000;
    one.decideDue(at);
    two.decideDue(at);
    const changed = (w: InstanceType<typeof World>) => w.alerts.filter((a) => a.DateChanged !== undefined && Date.parse(String(a.DateChanged)) > epoch);
    // Five decisions were due (some may pick the same alert); each is made, and dated, when asked.
    expect(changed(one).length).toBeGreaterThanOrEqual(3);
    expect(changed(one).every((a) => Date.parse(String(a.DateChanged)) === at)).toBe(true);
    expect(changed(one).map((a) => [a.ClientDbId, a.Status])).toEqual(changed(two).map((a) => [a.ClientDbId, a.Status]));
    // Asked again at the same time: nothing more is due.
    const before = JSON.stringify(one.alerts);
    one.decideDue(at);
    expect(JSON.stringify(one.alerts)).toBe(before);
    // Off by default: a world without the switch never changes on its own.
    const quiet = new World("quiet", { alertCount: 200, seed: 11, epoch: new Date(epoch).toISOString() }, epoch);
    const still = JSON.stringify(quiet.alerts);
    quiet.decideDue(at + 86_400_000);
    expect(JSON.stringify(quiet.alerts)).toBe(still);
  });
});
