/**
 * The plugin's D1 schema, in one place. drizzle-kit generates migrations/ from this file;
 * docs/storage-schema.md describes every record and who writes it.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { HashType } from "../host/schemas.ts";

/** Lifecycle of a tenant's channel once enabled: never connected, connected, or stopped by an error an admin must fix. */
export const CHANNEL_STATES = ["inactive", "active", "error"] as const;

/** One row per tenant the host has told us about: enablement, the non-secret settings and the channel state. */
export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(false),
  /** Ids of the assigned bundles that include the channel, as the host last reported them. */
  bundles: text("bundles", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  state: text("state", { enum: CHANNEL_STATES }).notNull().default("inactive"),
  orgUrl: text("org_url"),
  clientId: text("client_id"),
  username: text("username"),
  activatedAt: integer("activated_at", { mode: "timestamp_ms" }),
  /** Set when state is "error": a stable code and a sentence an admin can act on. */
  errorCode: text("error_code"),
  errorMessage: text("error_message"),
  errorAt: integer("error_at", { mode: "timestamp_ms" }),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Secrets sealed with AES-GCM (see storage/secrets.ts): the Cynet password and the cached
 * Cynet access token. Only ciphertext is stored; the IV is random per write.
 */
export const SECRET_KINDS = ["password", "token"] as const;
export const secrets = sqliteTable(
  "secrets",
  {
    tenantId: text("tenant_id").notNull().references(() => tenants.id),
    kind: text("kind", { enum: SECRET_KINDS }).notNull(),
    keyVersion: integer("key_version").notNull(),
    iv: text("iv").notNull(),
    ciphertext: text("ciphertext").notNull(),
    /** When the secret stops being usable (the token's lifetime); null for the password. */
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.kind] })],
);

/** What happened to a tenant's activation, for the admin's audit trail. Never holds a secret. */
export const ACTIVATION_ACTIONS = ["enabled", "disabled", "connected", "reconnected", "deactivated", "credentials_rejected"] as const;
export const activationHistory = sqliteTable(
  "activation_history",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    action: text("action", { enum: ACTIVATION_ACTIONS }).notNull(),
    orgUrl: text("org_url"),
    clientId: text("client_id"),
    username: text("username"),
    detail: text("detail"),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("activation_history_tenant_at").on(t.tenantId, t.at)],
);

/** The two windows a sync run reads, in order: alerts seen since the cursor, then alerts changed since the change cursor. */
export const RUN_PHASES = ["alerts", "changes"] as const;

/** Where each tenant's sync stands: the cursor, the lease, the run in progress and the backoff. */
export const syncState = sqliteTable("sync_state", {
  tenantId: text("tenant_id").primaryKey().references(() => tenants.id),
  /** The `LastSeen` the next run starts from; null until the first run completes (then the lookback applies). */
  cursor: integer("cursor", { mode: "timestamp_ms" }),
  /** How far back a run starts when there is no cursor. */
  lookbackDays: integer("lookback_days").notNull(),
  /** The invocation holding the tenant's sync, and until when; an expired lease is taken over. */
  leaseId: text("lease_id"),
  leaseExpiresAt: integer("lease_expires_at", { mode: "timestamp_ms" }),
  /**
   * Where the changed alerts are read from next (alerts/bulkByDateChanged, "changed since"); null
   * until the first run's change window completes (it then starts at the look-back).
   */
  changeCursor: integer("change_cursor", { mode: "timestamp_ms" }),
  /** When Cynet last answered 404 for changed alerts: the sync goes on without them and asks again after a day (sync/run.ts). */
  changesUnavailableAt: integer("changes_unavailable_at", { mode: "timestamp_ms" }),
  /** The run in progress (continued across invocations), its fixed LastSeen, the first page's SyncTimeUtc and the next Offset. */
  runId: integer("run_id"),
  /** Which window of the run the run_* position belongs to: new alerts first, then changed alerts. */
  runPhase: text("run_phase", { enum: RUN_PHASES }).notNull().default("alerts"),
  runLastSeen: integer("run_last_seen", { mode: "timestamp_ms" }),
  runSyncTime: integer("run_sync_time", { mode: "timestamp_ms" }),
  runOffset: integer("run_offset").notNull().default(0),
  /** Alert id read last, at run_offset - 1: the next page is asked from there, and must start with it, so a shift while paging is seen. */
  runAnchorId: integer("run_anchor_id"),
  consecutiveFailures: integer("consecutive_failures").notNull().default(0),
  backoffUntil: integer("backoff_until", { mode: "timestamp_ms" }),
  nextRunAt: integer("next_run_at", { mode: "timestamp_ms" }).notNull(),
  lastRunAt: integer("last_run_at", { mode: "timestamp_ms" }),
  lastSuccessAt: integer("last_success_at", { mode: "timestamp_ms" }),
  /**
   * Runs that completed with nothing new to store since the newest run row was written: a
   * quiet tick is counted here rather than given a sync_runs row of its own (sync/run.ts).
   */
  quietRuns: integer("quiet_runs").notNull().default(0),
});

/** Outcome of a sync run. */
export const RUN_OUTCOMES = ["running", "succeeded", "failed"] as const;

/** One row per sync run: what it read, stored, skipped and queued, and how it ended. */
export const syncRuns = sqliteTable(
  "sync_runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    reason: text("reason").notNull(),
    startedAt: integer("started_at", { mode: "timestamp_ms" }).notNull(),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
    outcome: text("outcome", { enum: RUN_OUTCOMES }).notNull().default("running"),
    lastSeenFrom: integer("last_seen_from", { mode: "timestamp_ms" }).notNull(),
    invocations: integer("invocations").notNull().default(0),
    pages: integer("pages").notNull().default(0),
    fetched: integer("fetched").notNull().default(0),
    newDetections: integer("new_detections").notNull().default(0),
    duplicates: integer("duplicates").notNull().default(0),
    /** Alerts that were not malicious files, by reason (see sync/rule.ts). */
    skipped: text("skipped", { mode: "json" }).$type<Record<string, number>>().notNull().default(sql`'{}'`),
    eventsQueued: integer("events_queued").notNull().default(0),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
  },
  (t) => [index("sync_runs_tenant_started").on(t.tenantId, t.startedAt)],
);

/** Why a detection stopped counting as malicious: its alert was set to Ignored, or Cynet lists the file as whitelisted. */
export const REVOCATION_REASONS = ["ignored", "whitelisted"] as const;

/**
 * The malicious files learned from Cynet, one row per Cynet alert. The primary key is the
 * dedup key (cynet-api.md: ClientDbId), so a re-read alert is never stored twice.
 */
export const detections = sqliteTable(
  "detections",
  {
    tenantId: text("tenant_id").notNull(),
    alertId: integer("alert_id").notNull(),
    sha256: text("sha256").notNull(),
    fileName: text("file_name"),
    path: text("path"),
    hostName: text("host_name"),
    hostIp: text("host_ip"),
    hostId: integer("host_id"),
    userName: text("user_name"),
    cynetSeverity: integer("cynet_severity"),
    /** Cynet's Status as last applied (stored, then changed by an analyst in Cynet: sync/decisions.ts). */
    cynetStatus: integer("cynet_status"),
    /** Cynet's DateChanged of the status held: a change read later but made earlier never overrides it. */
    statusChangedAt: integer("status_changed_at", { mode: "timestamp_ms" }),
    /** Set while the detection no longer counts as malicious (the alert was Ignored, or the file whitelisted), and why. */
    revokedAt: integer("revoked_at", { mode: "timestamp_ms" }),
    revokedReason: text("revoked_reason", { enum: REVOCATION_REASONS }),
    incidentName: text("incident_name"),
    detectedAt: integer("detected_at", { mode: "timestamp_ms" }).notNull(),
    firstSeenAt: integer("first_seen_at", { mode: "timestamp_ms" }),
    lastSeenAt: integer("last_seen_at", { mode: "timestamp_ms" }),
    runId: integer("run_id").notNull(),
    storedAt: integer("stored_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.alertId] }),
    // Covering for verdicts (first live detection, live endpoints per hash): answered from the
    // index alone, at the same rows written per detection as a (tenant, sha256) index.
    index("detections_tenant_sha256_live").on(t.tenantId, t.sha256, t.detectedAt, t.hostName, t.hostIp, t.revokedAt),
  ],
);

/** A stored detection. */
export type DetectionRow = typeof detections.$inferSelect;

/**
 * Each status change Cynet made to a stored detection, as the sync applied it: the detections
 * list shows it as the detection's history. Written only when the status held changes.
 */
export const detectionStatusChanges = sqliteTable(
  "detection_status_changes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    alertId: integer("alert_id").notNull(),
    fromStatus: integer("from_status"),
    toStatus: integer("to_status"),
    /** Cynet's DateChanged. */
    changedAt: integer("changed_at", { mode: "timestamp_ms" }).notNull(),
    appliedAt: integer("applied_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("detection_status_changes_alert").on(t.tenantId, t.alertId, t.id)],
);

/**
 * A hash's verdict over time: a row each time it stops being malicious (no live detection is
 * left) or becomes malicious again. `seq` counts a hash's changes, so each change is named once
 * (the notes it causes are keyed by it). No row: malicious since first detected.
 */
export const verdictChanges = sqliteTable(
  "verdict_changes",
  {
    tenantId: text("tenant_id").notNull(),
    sha256: text("sha256").notNull(),
    seq: integer("seq").notNull(),
    malicious: integer("malicious", { mode: "boolean" }).notNull(),
    /** For a revocation: why the last live detection stopped counting, and which alert it was. */
    reason: text("reason", { enum: REVOCATION_REASONS }),
    alertId: integer("alert_id"),
    /** When Cynet decided (a revocation: the alert's DateChanged, or the whitelisted lookup), or when the file counted again. */
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
    /** When the plugin recorded it: only scans matched before then get its note. */
    recordedAt: integer("recorded_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sha256, t.seq] })],
);

/** The scan match a note or IR request is about. */
export interface ScanMatchPayload {
  scanId: string;
  sha256: string;
  hashType: HashType;
  matchedHash: string;
  fileName: string | null;
  scannedAt: string | null;
  /** The endpoints a note names; a follow-up note names only endpoints earlier notes did not. */
  endpoints?: string[];
  followUp?: boolean;
  /** The sync run whose detections a note names. */
  runId?: number;
  /** A note about Cynet's later decision on the file (verdict_changes): which change, and what it made the verdict. */
  decision?: { seq: number; malicious: boolean; reason: (typeof REVOCATION_REASONS)[number] | null; alertId: number | null; at: number };
}

/** The response action an "action_note" row reports on the scan it names (actions/note.ts builds the text at send time). */
export interface ActionNotePayload {
  scanId: string;
  actionId: string;
}

/**
 * What an outbox row does: deliver events, look the detections' hashes up in the host's
 * scans ("match", which writes the IR request and note rows), or deliver one IR request or note;
 * for the host's own findings (src/findings), deliver the "Malicious Attachment on Endpoint"
 * events of newly found endpoints ("attachment_events") or the note naming them on the scan
 * ("attachment_note"); or the note on a scan that says how a response action named for it ended
 * ("action_note").
 */
export const OUTBOX_KINDS = ["events", "match", "note", "ir_request", "attachment_events", "attachment_note", "action_note"] as const;
/** Delivery state of an outbox row. */
export const OUTBOX_STATES = ["pending", "delivered", "failed"] as const;

/**
 * Deliveries to the host, written in the same batch as what caused them and sent through the
 * dispatch queue. An "events" row stands for up to 100 detections (one events/batch call);
 * the payload is rebuilt from those rows at send time, so no copy of it is stored twice.
 */
export const outbox = sqliteTable(
  "outbox",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    kind: text("kind", { enum: OUTBOX_KINDS }).notNull(),
    /** Cynet alert ids of the detections the row is about; for an attachment_events row, the ids of its finding_endpoints rows. */
    alertIds: text("alert_ids", { mode: "json" }).$type<number[]>().notNull().default(sql`'[]'`),
    /** For notes and IR requests: the scan match they come from (see dispatch/correlate.ts); for an attachment note, the finding's scan and the endpoints it names; for an action note, the action. */
    payload: text("payload", { mode: "json" }).$type<ScanMatchPayload | ActionNotePayload>(),
    /** The host call's Idempotency-Key: stable for the row, so a resend is answered, not repeated. */
    idempotencyKey: text("idempotency_key").notNull(),
    state: text("state", { enum: OUTBOX_STATES }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    /** When the row is next due; the sweeper re-enqueues pending rows well past it. */
    nextAttemptAt: integer("next_attempt_at", { mode: "timestamp_ms" }).notNull(),
    lastError: text("last_error"),
    /** When the host first failed to take the row (cleared on delivery): how long it has been failing, and how long the next wait is. */
    failingSince: integer("failing_since", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    deliveredAt: integer("delivered_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    uniqueIndex("outbox_idempotency_key").on(t.idempotencyKey),
    index("outbox_pending_due").on(t.nextAttemptAt).where(sql`state = 'pending'`),
    index("outbox_tenant_state").on(t.tenantId, t.state),
    // The scans a file was matched in (one IR request row per scan and file): the notes a later decision sends go to them.
    index("outbox_ir_request_sha256").on(t.tenantId, sql`json_extract(${t.payload}, '$.sha256')`).where(sql`kind = 'ir_request'`),
  ],
);

/** Lookup state of a file's other hashes at Cynet. */
export const FILE_LOOKUP_STATES = ["known", "failed"] as const;

/**
 * MD5 and SHA-1 of the files Cynet found malicious, learned once per hash from
 * /api/full/file, so scans indexed by those hashes match and verdicts answer them.
 */
export const fileHashes = sqliteTable(
  "file_hashes",
  {
    tenantId: text("tenant_id").notNull(),
    sha256: text("sha256").notNull(),
    md5: text("md5"),
    sha1: text("sha1"),
    state: text("state", { enum: FILE_LOOKUP_STATES }).notNull(),
    /** Cynet's is_whitelisted when the file was looked up: a whitelisted file's detections stop counting. */
    whitelisted: integer("whitelisted", { mode: "boolean" }).notNull().default(false),
    attempts: integer("attempts").notNull().default(1),
    lookedUpAt: integer("looked_up_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.sha256] }),
    index("file_hashes_tenant_md5").on(t.tenantId, t.md5),
    index("file_hashes_tenant_sha1").on(t.tenantId, t.sha1),
  ],
);

/** A file's learned hashes (or its failed lookup). */
export type FileHashRow = typeof fileHashes.$inferSelect;

/**
 * How far retention has walked each table it prunes, by rowid (storage/retention.ts): rows are
 * written in time order, so the walk resumes where it stopped instead of scanning the table.
 */
export const retentionCursors = sqliteTable("retention_cursors", {
  tableName: text("table_name").primaryKey(),
  lastRowId: integer("last_row_id").notNull(),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Which D1 database holds each tenant's rows, by binding name (storage/directory.ts). Kept in the
 * primary database (`DB`) only; a tenant's placement is written once, on first sight.
 */
export const tenantDatabases = sqliteTable(
  "tenant_databases",
  {
    tenantId: text("tenant_id").primaryKey(),
    binding: text("binding").notNull(),
    assignedAt: integer("assigned_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("tenant_databases_binding").on(t.binding)],
);

/**
 * What an audit entry records (audit/trail.ts owns the list's meaning). A text column, not a
 * CHECK: adding a kind of entry needs no migration.
 */
export const AUDIT_ACTIONS = [
  "enablement_changed",
  "connected",
  "credentials_rotated",
  "connect_refused",
  "deactivated",
  "sync_requested",
  "backfill_requested",
  "reset_requested",
  "delivery_retried",
  "findings_submitted",
  "action_requested",
  "action_finished",
] as const;
/** How a state-changing call ended: taken for later work, done, refused by the plugin or Cynet, or failed. */
export const AUDIT_OUTCOMES = ["accepted", "succeeded", "refused", "failed"] as const;

/**
 * Who changed what and when, per tenant (host contract §2, "audit"). Written in the same batch as
 * the change it records; never holds a secret (the detail is built from named, non-secret fields).
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
    /** The actor the host named in the signed body; null when the call named none (the host itself). */
    actorId: text("actor_id"),
    actorName: text("actor_name"),
    action: text("action", { enum: AUDIT_ACTIONS }).notNull(),
    outcome: text("outcome", { enum: AUDIT_OUTCOMES }).notNull(),
    /** What the call acted on, in words an admin reads: an action id, an outbox row, host names. */
    subject: text("subject"),
    /** Non-secret facts of the call (settings, counts, Cynet's answer). */
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
  },
  (t) => [index("audit_log_tenant_id").on(t.tenantId, t.id)],
);
/** A stored audit entry. */
export type AuditRow = typeof auditLog.$inferSelect;

/**
 * Attachments the host's scanner convicted (host contract §2, findings), one row per (tenant,
 * file, scan), and where each stands in its schedule of checks at Cynet (src/findings/schedule.ts).
 * The schedule lives here rather than in queue delays: a queue message waits 12 hours at most.
 */
export const findings = sqliteTable(
  "findings",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    sha256: text("sha256").notNull(),
    scanId: text("scan_id").notNull(),
    fileName: text("file_name"),
    /** Who received the attachment, as the host named them. */
    recipients: text("recipients", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    /** When the host's scanner convicted it. */
    foundAt: integer("found_at", { mode: "timestamp_ms" }).notNull(),
    /** When the plugin took it: the schedule's origin. */
    submittedAt: integer("submitted_at", { mode: "timestamp_ms" }).notNull(),
    checksDone: integer("checks_done").notNull().default(0),
    /** When the next check is due; null once the last scheduled check is done. */
    nextCheckAt: integer("next_check_at", { mode: "timestamp_ms" }),
    /** Until when a check message is on its way: the cron does not send another before then. */
    queuedUntil: integer("queued_until", { mode: "timestamp_ms" }),
    /** Failed tries of the check now due (Cynet busy, down or refusing), for its backoff. */
    failures: integer("failures").notNull().default(0),
    lastCheckedAt: integer("last_checked_at", { mode: "timestamp_ms" }),
    /** Why the last try failed, in words an admin can act on; null after a check that succeeded. */
    lastError: text("last_error"),
    /** Endpoints the notes on this scan have named so far: a follow-up note names only others. */
    notedEndpoints: text("noted_endpoints", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  },
  (t) => [
    uniqueIndex("findings_tenant_sha256_scan").on(t.tenantId, t.sha256, t.scanId),
    index("findings_tenant_id").on(t.tenantId, t.id),
    index("findings_due").on(t.nextCheckAt).where(sql`next_check_at is not null`),
  ],
);
/** A stored finding. */
export type FindingRow = typeof findings.$inferSelect;

/**
 * The endpoints Cynet has the host's convicted files on, one row per (tenant, file, endpoint),
 * ever: each is one "Malicious Attachment on Endpoint" event. What Cynet said of the file there
 * is kept as it first said it.
 */
export const findingEndpoints = sqliteTable(
  "finding_endpoints",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    sha256: text("sha256").notNull(),
    hostname: text("hostname").notNull(),
    fullPath: text("full_path"),
    fileName: text("file_name"),
    /** Cynet's file_type; "PROCESS" when the file ran. */
    fileType: text("file_type"),
    ranAsProcess: integer("ran_as_process", { mode: "boolean" }).notNull(),
    ownerUser: text("owner_user"),
    runningUser: text("running_user"),
    /** Cynet's creation_time and last_run_time, as Cynet wrote them. */
    creationTime: text("creation_time"),
    lastRunTime: text("last_run_time"),
    foundAt: integer("found_at", { mode: "timestamp_ms" }).notNull(),
    /** The check (and part) that found it: its attachment_events row takes exactly the rows it added. */
    foundBy: text("found_by").notNull(),
  },
  (t) => [uniqueIndex("finding_endpoints_tenant_sha256_host").on(t.tenantId, t.sha256, t.hostname)],
);
/** An endpoint a convicted file was found on. */
export type FindingEndpointRow = typeof findingEndpoints.$inferSelect;
/** The response actions the channel can ask Cynet for (actions/catalog.ts owns their meaning). */
export const ACTION_KINDS = ["quarantine_file", "kill_process", "delete_file", "unquarantine_file", "verify_file", "isolate_host", "release_host"] as const;
/** Where a response action stands: waiting for the queue, asked of Cynet and being followed, or ended. */
export const ACTION_STATES = ["queued", "running", "done", "failed"] as const;

/**
 * Response actions the host asked for (host contract §2, "actions"): one row per request, its
 * hosts in action_hosts, Cynet's remediation items in remediation_items. The id is random, so it
 * names one action across every database and says nothing about how many there are.
 */
export const actions = sqliteTable(
  "actions",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    action: text("action", { enum: ACTION_KINDS }).notNull(),
    /** The file, for a file action; null for a host action. */
    sha256: text("sha256"),
    /** The host names as Cynet spells them, in the order asked. */
    hosts: text("hosts", { mode: "json" }).$type<string[]>().notNull(),
    scanId: text("scan_id"),
    irRequestId: text("ir_request_id"),
    reason: text("reason"),
    actorId: text("actor_id").notNull(),
    actorName: text("actor_name"),
    /** The host's Idempotency-Key, when it sent one: the same key answers this action again. */
    clientKey: text("client_key"),
    /** Digest of the request as parsed: a reused key with another request is refused. */
    requestDigest: text("request_digest").notNull(),
    state: text("state", { enum: ACTION_STATES }).notNull().default("queued"),
    /**
     * The step of the action's one message chain (actions/consumer.ts): a message of another step is
     * a stale duplicate; the invocation that moves the step on sends the next message.
     */
    step: integer("step").notNull().default(0),
    /** When the chain's next message is due; the cron re-sends it when it is long overdue (a lost message). */
    nextRunAt: integer("next_run_at", { mode: "timestamp_ms" }).notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    index("actions_tenant_created").on(t.tenantId, t.createdAt, t.id),
    uniqueIndex("actions_tenant_client_key").on(t.tenantId, t.clientKey),
    index("actions_open_due").on(t.nextRunAt).where(sql`state in ('queued', 'running')`),
  ],
);
/** A stored response action. */
export type ActionRow = typeof actions.$inferSelect;

/**
 * Where one host's remediation request stands: not sent yet; claimed by an invocation that is
 * calling Cynet; sent (Cynet answered with its remediation items); failed (Cynet refused, or kept
 * failing); unknown (an invocation was cut off between Cynet's answer and its record, so whether
 * Cynet acted is not known and the request is never sent again).
 */
export const ACTION_HOST_STATES = ["pending", "sending", "sent", "failed", "unknown"] as const;

/** One (action, host): the one remediation request to Cynet it stands for, sent at most once. */
export const actionHosts = sqliteTable(
  "action_hosts",
  {
    tenantId: text("tenant_id").notNull(),
    actionId: text("action_id").notNull(),
    host: text("host").notNull(),
    state: text("state", { enum: ACTION_HOST_STATES }).notNull().default("pending"),
    /** Calls made for it (each answered 409, 429 or 5xx, but the last). */
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at", { mode: "timestamp_ms" }).notNull(),
    /** The invocation holding the "sending" claim, and since when: only it records Cynet's answer. */
    claim: text("claim"),
    claimedAt: integer("claimed_at", { mode: "timestamp_ms" }),
    /** Stable code and admin words of a failed or unknown request. */
    errorCode: text("error_code"),
    error: text("error"),
    sentAt: integer("sent_at", { mode: "timestamp_ms" }),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.actionId, t.host] })],
);
/** A stored (action, host). */
export type ActionHostRow = typeof actionHosts.$inferSelect;

/** One remediation item Cynet answered for an (action, host), polled until its status settles. */
export const remediationItems = sqliteTable(
  "remediation_items",
  {
    tenantId: text("tenant_id").notNull(),
    actionId: text("action_id").notNull(),
    host: text("host").notNull(),
    /** Cynet's remediation item id. */
    itemId: integer("item_id").notNull(),
    /** Cynet's numeric status and its words, as last read; null before the first poll. */
    status: integer("status"),
    statusInfo: text("status_info"),
    /** Polls in a row that read this status (1 on a change). */
    samePolls: integer("same_polls").notNull().default(0),
    polls: integer("polls").notNull().default(0),
    /** Set once it is final: settled, the polling bound passed, or Cynet would not answer for it. */
    final: integer("final", { mode: "boolean" }).notNull().default(false),
    /** Why polling stopped when it was not a settled status, in admin words. */
    note: text("note"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    lastPolledAt: integer("last_polled_at", { mode: "timestamp_ms" }),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.actionId, t.itemId] })],
);
/** A stored remediation item. */
export type RemediationItemRow = typeof remediationItems.$inferSelect;
