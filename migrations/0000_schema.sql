CREATE TABLE `activation_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`action` text NOT NULL,
	`org_url` text,
	`client_id` text,
	`username` text,
	`detail` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `activation_history_tenant_at` ON `activation_history` (`tenant_id`,`at`);--> statement-breakpoint
CREATE TABLE `detections` (
	`tenant_id` text NOT NULL,
	`alert_id` integer NOT NULL,
	`sha256` text NOT NULL,
	`file_name` text,
	`path` text,
	`host_name` text,
	`host_ip` text,
	`host_id` integer,
	`user_name` text,
	`cynet_severity` integer,
	`cynet_status` integer,
	`incident_name` text,
	`detected_at` integer NOT NULL,
	`first_seen_at` integer,
	`last_seen_at` integer,
	`run_id` integer NOT NULL,
	`stored_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `alert_id`)
);
--> statement-breakpoint
CREATE INDEX `detections_tenant_sha256` ON `detections` (`tenant_id`,`sha256`);--> statement-breakpoint
CREATE TABLE `outbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`kind` text NOT NULL,
	`alert_ids` text DEFAULT '[]' NOT NULL,
	`idempotency_key` text NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL,
	`delivered_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `outbox_idempotency_key` ON `outbox` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `outbox_pending_due` ON `outbox` (`next_attempt_at`) WHERE state = 'pending';--> statement-breakpoint
CREATE INDEX `outbox_tenant_state` ON `outbox` (`tenant_id`,`state`);--> statement-breakpoint
CREATE TABLE `secrets` (
	`tenant_id` text NOT NULL,
	`kind` text NOT NULL,
	`key_version` integer NOT NULL,
	`iv` text NOT NULL,
	`ciphertext` text NOT NULL,
	`expires_at` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `kind`),
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `sync_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`reason` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`outcome` text DEFAULT 'running' NOT NULL,
	`last_seen_from` integer NOT NULL,
	`invocations` integer DEFAULT 0 NOT NULL,
	`pages` integer DEFAULT 0 NOT NULL,
	`fetched` integer DEFAULT 0 NOT NULL,
	`new_detections` integer DEFAULT 0 NOT NULL,
	`duplicates` integer DEFAULT 0 NOT NULL,
	`skipped` text DEFAULT '{}' NOT NULL,
	`events_queued` integer DEFAULT 0 NOT NULL,
	`error_code` text,
	`error_message` text
);
--> statement-breakpoint
CREATE INDEX `sync_runs_tenant_started` ON `sync_runs` (`tenant_id`,`started_at`);--> statement-breakpoint
CREATE TABLE `sync_state` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`cursor` integer,
	`lookback_days` integer NOT NULL,
	`lease_id` text,
	`lease_expires_at` integer,
	`run_id` integer,
	`run_last_seen` integer,
	`run_sync_time` integer,
	`run_offset` integer DEFAULT 0 NOT NULL,
	`consecutive_failures` integer DEFAULT 0 NOT NULL,
	`backoff_until` integer,
	`next_run_at` integer NOT NULL,
	`last_run_at` integer,
	`last_success_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`enabled` integer DEFAULT false NOT NULL,
	`bundles` text DEFAULT '[]' NOT NULL,
	`state` text DEFAULT 'inactive' NOT NULL,
	`org_url` text,
	`client_id` text,
	`username` text,
	`activated_at` integer,
	`error_code` text,
	`error_message` text,
	`error_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
