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
CREATE TABLE `hosts` (
	`name` text PRIMARY KEY NOT NULL,
	`uid` integer NOT NULL,
	`key_type` text NOT NULL,
	`key_base64` text NOT NULL,
	`fingerprint` text NOT NULL,
	`append_only` integer DEFAULT true NOT NULL,
	`full_access_until` integer,
	`quota_bytes` integer,
	`allow_from` text,
	`max_sessions` integer DEFAULT 2 NOT NULL,
	`status` text NOT NULL,
	`origin` text NOT NULL,
	`enrollment_id` text,
	`ping_url` text,
	`expect_backup_every_ms` integer,
	`check_every_seconds` integer DEFAULT 604800,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `hosts_uid_unique` ON `hosts` (`uid`);--> statement-breakpoint
CREATE INDEX `hosts_status` ON `hosts` (`status`);--> statement-breakpoint
CREATE TABLE `imported_ancestor_users` (
	`name` text PRIMARY KEY NOT NULL,
	`imported_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `repository_checks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`host_name` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`outcome` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `repository_checks_host` ON `repository_checks` (`host_name`,`id`);--> statement-breakpoint
CREATE TABLE `root_reports` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`report` text NOT NULL,
	`created_at` integer NOT NULL
);
