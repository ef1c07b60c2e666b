CREATE TABLE `host_backup_state` (
	`host_name` text PRIMARY KEY NOT NULL,
	`last_session_at` integer,
	`last_backup_at` integer,
	`repository_bytes` integer,
	`is_stale_notified` integer DEFAULT false NOT NULL,
	`is_quota_high_notified` integer DEFAULT false NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `host_sessions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`host_name` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer NOT NULL,
	`client_address` text,
	`connections` integer NOT NULL,
	`transactions_committed` integer NOT NULL,
	`last_commit_before` integer NOT NULL,
	`last_commit_after` integer NOT NULL,
	`objects_added` integer NOT NULL,
	`bytes_added` integer NOT NULL,
	`manifest_rewritten` integer NOT NULL,
	`uncommitted_left` integer NOT NULL,
	`ended_by` text NOT NULL,
	`outcome` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `host_sessions_host` ON `host_sessions` (`host_name`,`id`);--> statement-breakpoint
CREATE TABLE `repository_checks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`host_name` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`outcome` text,
	`detail` text
);
--> statement-breakpoint
ALTER TABLE `enrollment_tokens` ADD `expect_backup_every_ms` integer;--> statement-breakpoint
ALTER TABLE `enrollments` ADD `expect_backup_every_ms` integer;--> statement-breakpoint
ALTER TABLE `hosts` ADD `expect_backup_every_ms` integer;