CREATE TABLE `file_hashes` (
	`tenant_id` text NOT NULL,
	`sha256` text NOT NULL,
	`md5` text,
	`sha1` text,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 1 NOT NULL,
	`looked_up_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `sha256`)
);
--> statement-breakpoint
CREATE INDEX `file_hashes_tenant_md5` ON `file_hashes` (`tenant_id`,`md5`);--> statement-breakpoint
CREATE INDEX `file_hashes_tenant_sha1` ON `file_hashes` (`tenant_id`,`sha1`);--> statement-breakpoint
ALTER TABLE `outbox` ADD `payload` text;