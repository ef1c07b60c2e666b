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
ALTER TABLE `hosts` ADD `check_every_seconds` integer DEFAULT 604800;