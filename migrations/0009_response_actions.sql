CREATE TABLE `action_hosts` (
	`tenant_id` text NOT NULL,
	`action_id` text NOT NULL,
	`host` text NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`claim` text,
	`claimed_at` integer,
	`error_code` text,
	`error` text,
	`sent_at` integer,
	PRIMARY KEY(`tenant_id`, `action_id`, `host`)
);
--> statement-breakpoint
CREATE TABLE `actions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`action` text NOT NULL,
	`sha256` text,
	`hosts` text NOT NULL,
	`scan_id` text,
	`ir_request_id` text,
	`reason` text,
	`actor_id` text NOT NULL,
	`actor_name` text,
	`client_key` text,
	`request_digest` text NOT NULL,
	`state` text DEFAULT 'queued' NOT NULL,
	`step` integer DEFAULT 0 NOT NULL,
	`next_run_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `actions_tenant_created` ON `actions` (`tenant_id`,`created_at`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `actions_tenant_client_key` ON `actions` (`tenant_id`,`client_key`);--> statement-breakpoint
CREATE INDEX `actions_open_due` ON `actions` (`next_run_at`) WHERE state in ('queued', 'running');--> statement-breakpoint
CREATE TABLE `remediation_items` (
	`tenant_id` text NOT NULL,
	`action_id` text NOT NULL,
	`host` text NOT NULL,
	`item_id` integer NOT NULL,
	`status` integer,
	`status_info` text,
	`same_polls` integer DEFAULT 0 NOT NULL,
	`polls` integer DEFAULT 0 NOT NULL,
	`final` integer DEFAULT false NOT NULL,
	`note` text,
	`created_at` integer NOT NULL,
	`last_polled_at` integer,
	PRIMARY KEY(`tenant_id`, `action_id`, `item_id`)
);
