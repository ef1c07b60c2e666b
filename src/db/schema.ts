import { type AnySQLiteColumn, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { WEBHOOK_FORMATS } from '../domain/webhook-formats.js';

const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull();

/** Public halves of the keys that sign enrollment tokens; the private half is a 0600 file. */
export const signingKeys = sqliteTable('signing_keys', {
  kid: text('kid').primaryKey(),
  publicJwk: text('public_jwk').notNull(),
  createdAt: createdAt(),
  retiredAt: integer('retired_at', { mode: 'timestamp_ms' }),
});

/** Every enrollment token minted: only its hash and jti, never the token. */
export const enrollmentTokens = sqliteTable(
  'enrollment_tokens',
  {
    jti: text('jti').primaryKey(),
    tokenHash: text('token_hash').notNull().unique(),
    kid: text('kid').notNull(),
    hostName: text('host_name'),
    quotaBytes: integer('quota_bytes'),
    appendOnly: integer('append_only', { mode: 'boolean' }).notNull(),
    allowFrom: text('allow_from'),
    autoApprove: integer('auto_approve', { mode: 'boolean' }).notNull().default(false),
    /** The host it enrolls is stale when it has not backed up for this long; null: the default. */
    expectBackupEveryMs: integer('expect_backup_every_ms'),
    status: text('status', { enum: ['issued', 'consumed', 'revoked'] }).notNull(),
    createdBy: text('created_by').notNull(),
    issuedAt: integer('issued_at', { mode: 'timestamp_ms' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    consumedAt: integer('consumed_at', { mode: 'timestamp_ms' }),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
  },
  (table) => [
    index('enrollment_tokens_status').on(table.status),
    // The token list's pages: a seek on (issued_at, jti), newest first.
    index('enrollment_tokens_issued').on(table.issuedAt, table.jti),
  ],
);

export const enrollments = sqliteTable(
  'enrollments',
  {
    id: text('id').primaryKey(),
    tokenJti: text('token_jti')
      .notNull()
      .unique()
      .references(() => enrollmentTokens.jti),
    hostName: text('host_name').notNull(),
    keyType: text('key_type').notNull(),
    keyBase64: text('key_base64').notNull(),
    fingerprint: text('fingerprint').notNull(),
    status: text('status', { enum: ['pending', 'approved', 'denied', 'expired'] }).notNull(),
    reason: text('reason'),
    sourceAddress: text('source_address'),
    quotaBytes: integer('quota_bytes'),
    appendOnly: integer('append_only', { mode: 'boolean' }).notNull(),
    allowFrom: text('allow_from'),
    expectBackupEveryMs: integer('expect_backup_every_ms'),
    createdAt: createdAt(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    decidedAt: integer('decided_at', { mode: 'timestamp_ms' }),
    decidedBy: text('decided_by'),
  },
  (table) => [
    // The enrollment list's pages, newest first: all of them, or those of one status.
    index('enrollments_created').on(table.createdAt, table.id),
    index('enrollments_status_created').on(table.status, table.createdAt, table.id),
    index('enrollments_host_name').on(table.hostName),
  ],
);

/**
 * Desired state of every host account. `uid` is allocated once and kept, so a
 * re-created container gives the same files the same owner. A deleted host
 * keeps its row (and its uid and data) until it is purged.
 */
export const hosts = sqliteTable(
  'hosts',
  {
    name: text('name').primaryKey(),
    uid: integer('uid').notNull().unique(),
    keyType: text('key_type').notNull(),
    keyBase64: text('key_base64').notNull(),
    fingerprint: text('fingerprint').notNull(),
    appendOnly: integer('append_only', { mode: 'boolean' }).notNull().default(true),
    /** Until then an append-only host has full access (to prune and compact); null: no window open. */
    fullAccessUntil: integer('full_access_until', { mode: 'timestamp_ms' }),
    quotaBytes: integer('quota_bytes'),
    allowFrom: text('allow_from'),
    /** Open SSH sessions (connections) it may have at once; the newest beyond are ended. */
    maxSessions: integer('max_sessions').notNull().default(2),
    status: text('status', { enum: ['active', 'disabled', 'deleted', 'purging'] }).notNull(),
    origin: text('origin', { enum: ['enrollment', 'createuser', 'import'] }).notNull(),
    enrollmentId: text('enrollment_id'),
    /** A push monitor (healthchecks.io, Uptime Kuma) told of each backup; admin input, never logged. */
    pingUrl: text('ping_url'),
    /** Stale when its last backup is older than this; null: DEFAULT_EXPECT_BACKUP_EVERY_MS. */
    expectBackupEveryMs: integer('expect_backup_every_ms'),
    /** How often the server checks its repository (borg check --repository-only); null: never on a schedule. */
    checkEverySeconds: integer('check_every_seconds').default(604800),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (table) => [index('hosts_status').on(table.status)],
);

export const adminTokens = sqliteTable(
  'admin_tokens',
  {
    id: text('id').primaryKey(),
    label: text('label').notNull(),
    secretHash: text('secret_hash').notNull(),
    createdAt: createdAt(),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
    lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
    /** What the token may do (src/domain/admin-roles.ts); tokens from before roles existed are admin. */
    role: text('role', { enum: ['admin', 'read', 'metrics', 'enroll'] })
      .notNull()
      .default('admin'),
    /** Null: the token does not expire (it can still be revoked). */
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
  },
  // The admin token list's pages: a seek on (created_at, id), newest first.
  (table) => [index('admin_tokens_created').on(table.createdAt, table.id)],
);

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    target: text('target'),
    sourceAddress: text('source_address'),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (table) => [index('audit_log_at').on(table.at), index('audit_log_target').on(table.target, table.id)],
);

// ── Notifications (src/api/notify): outgoing webhooks, their delivery queue, host ping URLs ──

/**
 * Receivers of event notifications: signed events (Standard Webhooks), or a message for people
 * in a chat or push service's own format. The secret is shown once, at creation.
 */
export const webhooks = sqliteTable(
  'webhooks',
  {
    id: text('id').primaryKey(),
    url: text('url').notNull(),
    /** `whsec_<base64>`: the HMAC key; never returned by the API after creation. Unused (and never shown) for a message format. */
    secret: text('secret').notNull(),
    /** How its deliveries look on the wire (src/domain/webhook-formats.ts). */
    format: text('format', { enum: WEBHOOK_FORMATS }).notNull().default('standard'),
    /** The event types it receives (JSON array); opt-in types only when listed. */
    events: text('events', { mode: 'json' }).$type<string[]>().notNull(),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    createdAt: createdAt(),
  },
  // The webhook list's pages: a seek on (created_at, id), oldest first.
  (table) => [index('webhooks_created').on(table.createdAt, table.id)],
);

/**
 * The persisted queue: one row per message to send (a webhook event, or a
 * host's ping). `id` is the webhook-id header, the same on every retry.
 */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['webhook', 'ping'] }).notNull(),
    webhookId: text('webhook_id').references((): AnySQLiteColumn => webhooks.id, { onDelete: 'cascade' }),
    /** The host the event is about; for a ping, whose ping URL is called. */
    hostName: text('host_name'),
    eventType: text('event_type').notNull(),
    /** The exact request body (JSON), signed anew at every attempt. */
    payload: text('payload').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at', { mode: 'timestamp_ms' }).notNull(),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] }).notNull(),
    lastStatusCode: integer('last_status_code'),
    /** Short and secret-free: an HTTP status or a network error code. */
    lastError: text('last_error'),
    createdAt: createdAt(),
    deliveredAt: integer('delivered_at', { mode: 'timestamp_ms' }),
  },
  (table) => [
    index('webhook_deliveries_due').on(table.status, table.nextAttemptAt),
    // A webhook's delivery log, newest first, paged by (created_at, id).
    index('webhook_deliveries_webhook_created').on(table.webhookId, table.createdAt, table.id),
  ],
);

// ── Monitoring: each host's sessions as root's watch saw them (src/root/watch), kept on both sides (src/host-records) ──

/**
 * One row per borg session the repository watch saw (a time during which the
 * host had processes), with what it did, read from the repository files borg
 * serve wrote (its index), never from what the client sent. Bounded per host.
 */
export const hostSessions = sqliteTable(
  'host_sessions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hostName: text('host_name').notNull(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    endedAt: integer('ended_at', { mode: 'timestamp_ms' }).notNull(),
    /** From SSH_CONNECTION, which sshd sets for the session; null when it could not be read. */
    clientAddress: text('client_address'),
    /** SSH connections seen during the session (a backup and a `borg list` beside it are one session). */
    connections: integer('connections').notNull(),
    transactionsCommitted: integer('transactions_committed').notNull(),
    lastCommitBefore: integer('last_commit_before').notNull(),
    lastCommitAfter: integer('last_commit_after').notNull(),
    /** Change of the objects in borg's index (negative after a delete or prune). */
    objectsAdded: integer('objects_added').notNull(),
    /** Change of the disk blocks of the repository, in bytes (negative after compaction). */
    bytesAdded: integer('bytes_added').notNull(),
    manifestRewritten: integer('manifest_rewritten', { mode: 'boolean' }).notNull(),
    uncommittedLeft: integer('uncommitted_left', { mode: 'boolean' }).notNull(),
    /** client: it ended on its own (or its client went away); quota-watch: the server ended it. */
    endedBy: text('ended_by', { enum: ['client', 'quota-watch'] }).notNull(),
    outcome: text('outcome', { enum: ['backup', 'changed', 'read-only', 'aborted'] }).notNull(),
    /** The maintainer whose key made the session (every connection of it); null: the host's own key. */
    maintainer: text('maintainer'),
  },
  (table) => [index('host_sessions_host').on(table.hostName, table.id)],
);

/** What the server knows of each host's repository and backups, updated after each session. */
export const hostBackupState = sqliteTable('host_backup_state', {
  hostName: text('host_name').primaryKey(),
  lastSessionAt: integer('last_session_at', { mode: 'timestamp_ms' }),
  lastBackupAt: integer('last_backup_at', { mode: 'timestamp_ms' }),
  /** Disk blocks of the repository (committed and not), in bytes, after the last session. */
  repositoryBytes: integer('repository_bytes'),
  /** What the stale and quota events last said, so each is sent once. */
  isStaleNotified: integer('is_stale_notified', { mode: 'boolean' }).notNull().default(false),
  isQuotaHighNotified: integer('is_quota_high_notified', { mode: 'boolean' }).notNull().default(false),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
});

// ── Integrity checks (src/root/checks/integrity-check.ts): borg check --repository-only per host ──

/** One run (a slice, with --max-duration) of the server's check of a host's repository; the newest kept per host. */
export const repositoryChecks = sqliteTable(
  'repository_checks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    hostName: text('host_name').notNull(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    endedAt: integer('ended_at', { mode: 'timestamp_ms' }),
    outcome: text('outcome', { enum: ['ok', 'failed', 'interrupted', 'error'] }),
    /** Short and secret-free: borg's last error lines, or how far a partial check got. */
    detail: text('detail'),
  },
  (table) => [index('repository_checks_host').on(table.hostName, table.id)],
);

// ── The admin web page (src/api/web): logins by admin token ──

/**
 * A browser's login to /ui. The cookie carries a random id; only its hash is
 * stored. A session ends on logout, after its idle or absolute lifetime, and
 * with the admin token it was opened with.
 */
export const adminSessions = sqliteTable(
  'admin_sessions',
  {
    idHash: text('id_hash').primaryKey(),
    adminTokenId: text('admin_token_id')
      .notNull()
      .references(() => adminTokens.id),
    /** Sent in every form of the session and compared on every POST (with the Origin check). */
    csrfToken: text('csrf_token').notNull(),
    createdAt: createdAt(),
    lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    sourceAddress: text('source_address'),
  },
  (table) => [index('admin_sessions_expiry').on(table.expiresAt)],
);

// ── Root's reports (src/channel/root-reports.ts): what the API has applied ──

/** One row: the id of the last report of root's the API applied, so that a report sent again is applied once. */
export const appliedRootReports = sqliteTable('applied_root_reports', {
  id: integer('id').primaryKey(),
  lastReportId: integer('last_report_id').notNull(),
});

// ── Maintainers (src/root/requests/maintainer-requests.ts): trusted machines that prune while every VM stays append-only ──

/**
 * A trusted machine's key (an offline machine holding the repository keys):
 * granted to hosts, it gets a key line of its own in each granted host's key
 * file with full access to that host's repository (no --append-only, still
 * --restrict-to-repository) and a required from= range. Root keeps the rows it
 * validated; the API copies root's answer.
 */
export const maintainers = sqliteTable(
  'maintainers',
  {
    name: text('name').primaryKey(),
    keyType: text('key_type').notNull(),
    keyBase64: text('key_base64').notNull(),
    fingerprint: text('fingerprint').notNull().unique(),
    /** Required: the addresses the maintainer may come from (sshd's from=). */
    allowFrom: text('allow_from').notNull(),
    /** Granted to every host, those enrolled later too. */
    isGrantedAllHosts: integer('is_granted_all_hosts', { mode: 'boolean' }).notNull().default(false),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  // Each host view asks which maintainers reach every host: a search, not a scan, per host of a page.
  (table) => [index('maintainers_all_hosts').on(table.isGrantedAllHosts)],
);

/** The hosts a maintainer may reach (besides every host when its row says all). */
export const maintainerGrants = sqliteTable(
  'maintainer_grants',
  {
    maintainerName: text('maintainer_name')
      .notNull()
      .references(() => maintainers.name, { onDelete: 'cascade' }),
    hostName: text('host_name').notNull(),
    createdAt: createdAt(),
  },
  (table) => [primaryKey({ columns: [table.maintainerName, table.hostName] }), index('maintainer_grants_host').on(table.hostName)],
);

/**
 * Hosts whose own key changed their repository (a delete, a prune) since an
 * admin last looked: no maintainer reaches them until acknowledged, so a
 * routine compact never makes a compromised VM's deletes permanent (borg's
 * append-only pitfall). Root decides and keeps it; the API copies its reports.
 */
export const maintenanceHolds = sqliteTable('maintenance_holds', {
  hostName: text('host_name').primaryKey(),
  /** The end of the first such session since the last acknowledgement. */
  heldSince: integer('held_since', { mode: 'timestamp_ms' }).notNull(),
  reason: text('reason').notNull(),
});
