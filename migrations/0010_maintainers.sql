CREATE TABLE `maintainer_grants` (
	`maintainer_name` text NOT NULL,
	`host_name` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`maintainer_name`, `host_name`),
	FOREIGN KEY (`maintainer_name`) REFERENCES `maintainers`(`name`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `maintainer_grants_host` ON `maintainer_grants` (`host_name`);--> statement-breakpoint
CREATE TABLE `maintainers` (
	`name` text PRIMARY KEY NOT NULL,
	`key_type` text NOT NULL,
	`key_base64` text NOT NULL,
	`fingerprint` text NOT NULL,
	`allow_from` text NOT NULL,
	`is_granted_all_hosts` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `maintainers_fingerprint_unique` ON `maintainers` (`fingerprint`);--> statement-breakpoint
CREATE INDEX `maintainers_all_hosts` ON `maintainers` (`is_granted_all_hosts`);--> statement-breakpoint
CREATE TABLE `maintenance_holds` (
	`host_name` text PRIMARY KEY NOT NULL,
	`held_since` integer NOT NULL,
	`reason` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `host_sessions` ADD `maintainer` text;