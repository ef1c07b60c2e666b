ALTER TABLE `hosts` ADD `check_every_seconds` integer DEFAULT 604800;--> statement-breakpoint
CREATE INDEX `repository_checks_host` ON `repository_checks` (`host_name`,`id`);