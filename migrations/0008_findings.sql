CREATE TABLE `finding_endpoints` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`sha256` text NOT NULL,
	`hostname` text NOT NULL,
	`full_path` text,
	`file_name` text,
	`file_type` text,
	`ran_as_process` integer NOT NULL,
	`owner_user` text,
	`running_user` text,
	`creation_time` text,
	`last_run_time` text,
	`found_at` integer NOT NULL,
	`found_by` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `finding_endpoints_tenant_sha256_host` ON `finding_endpoints` (`tenant_id`,`sha256`,`hostname`);--> statement-breakpoint
CREATE TABLE `findings` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`sha256` text NOT NULL,
	`scan_id` text NOT NULL,
	`file_name` text,
	`recipients` text DEFAULT '[]' NOT NULL,
	`found_at` integer NOT NULL,
	`submitted_at` integer NOT NULL,
	`checks_done` integer DEFAULT 0 NOT NULL,
	`next_check_at` integer,
	`queued_until` integer,
	`failures` integer DEFAULT 0 NOT NULL,
	`last_checked_at` integer,
	`last_error` text,
	`noted_endpoints` text DEFAULT '[]' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `findings_tenant_sha256_scan` ON `findings` (`tenant_id`,`sha256`,`scan_id`);--> statement-breakpoint
CREATE INDEX `findings_tenant_id` ON `findings` (`tenant_id`,`id`);--> statement-breakpoint
CREATE INDEX `findings_due` ON `findings` (`next_check_at`) WHERE next_check_at is not null;