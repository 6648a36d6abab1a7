CREATE TABLE `retention_cursors` (
	`table_name` text PRIMARY KEY NOT NULL,
	`last_row_id` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tenant_databases` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`binding` text NOT NULL,
	`assigned_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tenant_databases_binding` ON `tenant_databases` (`binding`);--> statement-breakpoint
ALTER TABLE `sync_state` ADD `quiet_runs` integer DEFAULT 0 NOT NULL;