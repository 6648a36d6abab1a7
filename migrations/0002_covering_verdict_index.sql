DROP INDEX `detections_tenant_sha256`;--> statement-breakpoint
CREATE INDEX `detections_tenant_sha256_seen` ON `detections` (`tenant_id`,`sha256`,`detected_at`,`host_name`,`host_ip`);