CREATE TABLE `detection_status_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`alert_id` integer NOT NULL,
	`from_status` integer,
	`to_status` integer,
	`changed_at` integer NOT NULL,
	`applied_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `detection_status_changes_alert` ON `detection_status_changes` (`tenant_id`,`alert_id`,`id`);--> statement-breakpoint
CREATE TABLE `verdict_changes` (
	`tenant_id` text NOT NULL,
	`sha256` text NOT NULL,
	`seq` integer NOT NULL,
	`malicious` integer NOT NULL,
	`reason` text,
	`alert_id` integer,
	`at` integer NOT NULL,
	`recorded_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `sha256`, `seq`)
);
--> statement-breakpoint
DROP INDEX `detections_tenant_sha256_seen`;--> statement-breakpoint
ALTER TABLE `detections` ADD `status_changed_at` integer;--> statement-breakpoint
ALTER TABLE `detections` ADD `revoked_at` integer;--> statement-breakpoint
ALTER TABLE `detections` ADD `revoked_reason` text;--> statement-breakpoint
CREATE INDEX `detections_tenant_sha256_live` ON `detections` (`tenant_id`,`sha256`,`detected_at`,`host_name`,`host_ip`,`revoked_at`);--> statement-breakpoint
ALTER TABLE `file_hashes` ADD `whitelisted` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `sync_state` ADD `change_cursor` integer;--> statement-breakpoint
ALTER TABLE `sync_state` ADD `changes_unavailable_at` integer;--> statement-breakpoint
ALTER TABLE `sync_state` ADD `run_phase` text DEFAULT 'alerts' NOT NULL;--> statement-breakpoint
-- drizzle-kit renders an expression index's columns as names; this is the index schema.ts declares.
CREATE INDEX `outbox_ir_request_sha256` ON `outbox` (`tenant_id`, json_extract(`payload`, '$.sha256')) WHERE kind = 'ir_request';