DROP INDEX `enrollments_status`;--> statement-breakpoint
CREATE INDEX `enrollments_created` ON `enrollments` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `enrollments_status_created` ON `enrollments` (`status`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `webhook_deliveries_webhook`;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_webhook_created` ON `webhook_deliveries` (`webhook_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `admin_tokens_created` ON `admin_tokens` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `enrollment_tokens_issued` ON `enrollment_tokens` (`issued_at`,`jti`);--> statement-breakpoint
CREATE INDEX `webhooks_created` ON `webhooks` (`created_at`,`id`);