ALTER TABLE `admin_tokens` ADD `role` text DEFAULT 'admin' NOT NULL;--> statement-breakpoint
ALTER TABLE `admin_tokens` ADD `expires_at` integer;