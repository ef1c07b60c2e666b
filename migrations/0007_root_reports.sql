CREATE TABLE `applied_root_reports` (
	`id` integer PRIMARY KEY NOT NULL,
	`last_report_id` integer NOT NULL
);
