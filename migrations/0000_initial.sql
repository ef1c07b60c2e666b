CREATE TABLE `admin_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`label` text NOT NULL,
	`secret_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	`last_used_at` integer
);
--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`target` text,
	`source_address` text,
	`details` text
);
--> statement-breakpoint
CREATE INDEX `audit_log_at` ON `audit_log` (`at`);--> statement-breakpoint
CREATE TABLE `enrollment_tokens` (
	`jti` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`kid` text NOT NULL,
	`host_name` text,
	`quota_bytes` integer,
	`append_only` integer NOT NULL,
	`allow_from` text,
	`auto_approve` integer DEFAULT false NOT NULL,
	`status` text NOT NULL,
	`created_by` text NOT NULL,
	`issued_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`consumed_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `enrollment_tokens_token_hash_unique` ON `enrollment_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `enrollment_tokens_status` ON `enrollment_tokens` (`status`);--> statement-breakpoint
CREATE TABLE `enrollments` (
	`id` text PRIMARY KEY NOT NULL,
	`token_jti` text NOT NULL,
	`host_name` text NOT NULL,
	`key_type` text NOT NULL,
	`key_base64` text NOT NULL,
	`fingerprint` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`source_address` text,
	`quota_bytes` integer,
	`append_only` integer NOT NULL,
	`allow_from` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`decided_at` integer,
	`decided_by` text,
	FOREIGN KEY (`token_jti`) REFERENCES `enrollment_tokens`(`jti`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `enrollments_token_jti_unique` ON `enrollments` (`token_jti`);--> statement-breakpoint
CREATE INDEX `enrollments_status` ON `enrollments` (`status`);--> statement-breakpoint
CREATE INDEX `enrollments_host_name` ON `enrollments` (`host_name`);--> statement-breakpoint
CREATE TABLE `hosts` (
	`name` text PRIMARY KEY NOT NULL,
	`uid` integer NOT NULL,
	`key_type` text NOT NULL,
	`key_base64` text NOT NULL,
	`fingerprint` text NOT NULL,
	`append_only` integer DEFAULT true NOT NULL,
	`quota_bytes` integer,
	`allow_from` text,
	`status` text NOT NULL,
	`origin` text NOT NULL,
	`enrollment_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `hosts_uid_unique` ON `hosts` (`uid`);--> statement-breakpoint
CREATE INDEX `hosts_status` ON `hosts` (`status`);--> statement-breakpoint
CREATE TABLE `signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`public_jwk` text NOT NULL,
	`created_at` integer NOT NULL,
	`retired_at` integer
);
