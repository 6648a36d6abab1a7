/**
 * Every binding, secret and variable the Worker reads. Names are fixed by the host contract §6
 * so a host operator can deploy the plugin without reading its code.
 */
import type { SyncMessage } from "./sync/messages";
import type { DispatchMessage } from "./dispatch/messages";
import type { FindingsMessage } from "./findings/messages";
import type { ActionMessage } from "./actions/messages";

export interface Env {
  /**
   * The plugin's primary database (migrations/, applied with `wrangler d1 migrations apply DB`):
   * it holds the tenant → database directory, and the tenants placed in it.
   */
  DB: D1Database;
  /**
   * The D1 bindings that hold tenants, comma-separated (default "DB"). One database has a size
   * cap and a single writer, so tenants can be spread over several; each listed binding is a
   * `[[d1_databases]]` entry in wrangler.toml with every migration applied, and the list must
   * include DB. New tenants go to the one with the fewest (storage/directory.ts); the cron
   * visits them all. Checked with zod on first use: a wrong list is a logged error and a 503.
   */
  TENANT_DATABASES?: string;
  /** Per-tenant sync work: cron fan-out, "sync now" and continuations of long backlogs. */
  SYNC_QUEUE: Queue<SyncMessage>;
  /** Deliveries to the host: events, scan notes and IR requests. */
  DISPATCH_QUEUE: Queue<DispatchMessage>;
  /** Scan matching: "match" outbox rows (Cynet file lookups, scans/search), apart so deliveries never wait behind them. */
  CORRELATE_QUEUE: Queue<DispatchMessage>;
  /** Checks of the host's findings at Cynet (src/findings): due checks, sent by the findings route and the cron. */
  FINDINGS_QUEUE: Queue<FindingsMessage>;
  /** Response actions: each action's chain of steps (send its remediation requests to Cynet, poll the items), apart from deliveries. */
  ACTIONS_QUEUE: Queue<ActionMessage>;
  /** Final failures: deliveries the host refused for good (retries exhausted land here too). */
  DEAD_LETTER_QUEUE: Queue<DispatchMessage>;
  /** Base URL of the host API (contract §4). */
  HOST_API_URL: string;
  /** Bearer token the plugin presents to the host API. Secret. */
  HOST_API_TOKEN: string;
  /** HMAC key the host signs its calls with (contract §2). Secret. */
  HOST_SIGNING_SECRET: string;
  /**
   * Key ring that seals Cynet passwords and tokens at rest. Secret. Either one base64 key of
   * 32 bytes (key version 1), or "v<N>:<base64>" entries separated by commas, the first being
   * the key new writes use, the rest kept to read older rows during a rotation.
   */
  CREDENTIALS_KEY: string;
  /**
   * Days a detection's alert detail (file name, path, user, incident) is kept; the facts verdicts
   * and deduplication need are kept for good (storage/retention.ts). 30 to 3650; unset is 180.
   */
  DETECTION_RETENTION_DAYS?: string;
  /** Development only: send every Cynet call to this origin (the local simulator). */
  CYNET_ORIGIN_OVERRIDE?: string;
}
