import type { Command } from 'commander';
import { createAdminToken, listAdminTokenPage, revokeAdminToken } from '../../api/admin/admin-tokens.js';
import { approveEnrollment, denyEnrollment, HostExistsError } from '../../api/enrollment/decisions.js';
import { listEnrollmentPage } from '../../api/enrollment/enroll.js';
import { createEnrollmentToken, listEnrollmentTokenPage, revokeEnrollmentToken } from '../../api/enrollment/tokens.js';
import { getHost } from '../../api/hosts/hosts.js';
import { timeAndIdKey } from '../../api/list-pages.js';
import { ADMIN_ROLE_MEANINGS, ADMIN_ROLES, parseAdminRole, parseAdminTokenLifetimeSeconds } from '../../domain/admin-roles.js';
import { AppError } from '../../errors.js';
import { CLI_ACTOR, openCliContext } from '../cli-context.js';
import { addPageSizeOption, parsePageSize, readEveryPage } from '../every-page.js';
import { printOutcome, printRows, printSecret } from '../output.js';

export function addAdminTokenCommands(program: Command): void {
  const adminToken = program.command('admin-token').description('tokens for the admin API');
  adminToken
    .command('create')
    .description('create an admin token; it is printed once, the only line on standard output')
    .option('--label <label>', 'what the token is for (the audit log names it)', 'admin')
    .option('--role <role>', `what it may do: ${ADMIN_ROLES.map((role) => `${role} (${ADMIN_ROLE_MEANINGS[role]})`).join('; ')}`, 'admin')
    .option('--expires <duration>', 'it stops working after this long, like 90d or 12h (default: never)')
    .option('--json', 'print JSON: the token with its id, label, role and expiry')
    .action(async (options: { label: string; role: string; expires?: string; json?: boolean }) => {
      // Both are checked before anything is opened, so a typo writes nothing.
      const role = parseAdminRole(options.role);
      const lifetimeSeconds = options.expires === undefined ? null : parseAdminTokenLifetimeSeconds(options.expires);
      const context = await openCliContext();
      const now = context.now();
      const expiresAt = lifetimeSeconds === null ? null : new Date(now.getTime() + lifetimeSeconds * 1000);
      const created = createAdminToken(context.db, { label: options.label, role, expiresAt }, now, CLI_ACTOR.actor);
      const until = expiresAt ? `, until ${expiresAt.toISOString()}` : '';
      printSecret(
        `Admin token ${created.id} (${created.label}), role ${role}${until}. It is shown only now; use it as "Authorization: Bearer <token>".`,
        created.token,
        options.json ? { id: created.id, label: created.label, role, expiresAt, token: created.token } : undefined,
      );
    });
  addPageSizeOption(adminToken.command('list').description('every admin token, newest first').option('--json', 'print JSON')).action(
    async (options: { json?: boolean; pageSize: string }) => {
      const pageSize = parsePageSize(options.pageSize);
      const context = await openCliContext();
      printRows(
        readEveryPage((request) => listAdminTokenPage(context.db, request), 'tokens', timeAndIdKey, pageSize),
        ['id', 'label', 'role', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt'],
        options.json ?? false,
      );
    },
  );
  adminToken
    .command('revoke <id>')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      revokeAdminToken(context.db, id, context.now(), CLI_ACTOR.actor);
      printOutcome(options.json ?? false, { id, status: 'revoked' }, `admin token ${id} revoked`);
    });
}

export function addEnrollmentTokenCommands(program: Command): void {
  const token = program.command('token').description('one-time enrollment tokens for new hosts');
  token
    .command('create')
    .description('mint an enrollment token; it is printed once, the only line on standard output')
    .option('--host <name>', 'the only host name the token may enroll')
    .option('--ttl <duration>', 'lifetime, like 15m, 2h or 7d (default 1h, at most 7d)')
    .option('--quota <size>', 'storage quota, like 500G')
    .option('--no-append-only', 'give the host full access (it can then delete its own backups)')
    .option('--allow-from <cidrs>', 'addresses or CIDR ranges the host may connect from, comma-separated, e.g. 192.0.2.0/24,2001:db8::/32')
    .option('--auto-approve', 'approve the enrollment without an admin (needs --host)')
    .option('--expect-backup-every <duration>', 'the host is stale after this long without a backup (default 26h)')
    .option('--json', 'print JSON: the token with its id (jti), expiry and the command to run on the host')
    .action(
      async (options: {
        host?: string;
        ttl?: string;
        quota?: string;
        appendOnly: boolean;
        allowFrom?: string;
        autoApprove?: boolean;
        expectBackupEvery?: string;
        json?: boolean;
      }) => {
        const context = await openCliContext();
        const created = await createEnrollmentToken(
          context,
          {
            host: options.host,
            ttl: options.ttl,
            quota: options.quota,
            appendOnly: options.appendOnly,
            allowFrom: options.allowFrom,
            autoApprove: options.autoApprove,
            expectBackupEvery: options.expectBackupEvery,
          },
          CLI_ACTOR,
        );
        printSecret(
          `Enrollment token ${created.jti}, valid until ${created.expiresAt.toISOString()}. Run on the new host:\n  ${created.command}`,
          created.token,
          options.json ? created : undefined,
        );
      },
    );
  addPageSizeOption(token.command('list').description('every enrollment token, newest first').option('--json', 'print JSON')).action(
    async (options: { json?: boolean; pageSize: string }) => {
      const pageSize = parsePageSize(options.pageSize);
      const context = await openCliContext();
      printRows(
        readEveryPage((request) => listEnrollmentTokenPage(context, request), 'tokens', timeAndIdKey, pageSize),
        ['jti', 'host', 'status', 'expiresAt', 'appendOnly', 'quotaBytes', 'allowFrom'],
        options.json ?? false,
      );
    },
  );
  token
    .command('revoke <jti>')
    .option('--json', 'print JSON')
    .action(async (jti: string, options: { json?: boolean }) => {
      const context = await openCliContext();
      revokeEnrollmentToken(context, jti, CLI_ACTOR);
      printOutcome(options.json ?? false, { jti, status: 'revoked' }, `token ${jti} revoked`);
    });
}

export function addEnrollmentCommands(program: Command): void {
  const enrollments = program.command('enrollments').description('hosts waiting for approval');
  addPageSizeOption(
    enrollments
      .command('list')
      .description('every enrollment, or those of one status, newest first')
      .option('--status <status>', 'pending, approved, denied or expired')
      .option('--json', 'print JSON'),
  ).action(async (options: { status?: string; json?: boolean; pageSize: string }) => {
    const statuses = ['pending', 'approved', 'denied', 'expired'] as const;
    const status = statuses.find((candidate) => candidate === options.status);
    if (options.status && !status) throw new AppError('BAD_REQUEST', 'status must be pending, approved, denied or expired');
    const pageSize = parsePageSize(options.pageSize);
    const context = await openCliContext();
    printRows(
      readEveryPage(
        (request) => listEnrollmentPage(context, { ...request, status }),
        'enrollments',
        timeAndIdKey,
        pageSize,
      ) as unknown as Record<string, unknown>[],
      ['id', 'hostname', 'status', 'fingerprint', 'conflict', 'sourceAddress', 'createdAt'],
      options.json ?? false,
    );
  });
  enrollments
    .command('approve <id>')
    .description('approve after checking the fingerprint the host printed')
    .requiredOption('--fingerprint <SHA256:…>', 'the fingerprint the host showed you')
    .option('--replace-key', 'the host name exists: give it this new key')
    .option('--json', 'print JSON: the host it made')
    .action(async (id: string, options: { fingerprint: string; replaceKey?: boolean; json?: boolean }) => {
      const context = await openCliContext();
      const host = await approveEnrollment(
        context,
        id,
        { fingerprint: options.fingerprint, replaceKey: options.replaceKey ?? false },
        CLI_ACTOR,
      ).catch((error: unknown) => {
        // The API's message names its field; here the way is this command's flag.
        throw error instanceof HostExistsError ? new AppError('HOST_EXISTS', error.describe('--replace-key')) : error;
      });
      printOutcome(
        options.json ?? false,
        { id, status: 'approved', host: getHost(context, host.name) },
        `approved: host ${host.name} (uid ${host.uid})`,
      );
    });
  enrollments
    .command('deny <id>')
    .option('--reason <text>', 'why, for the audit log')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { reason?: string; json?: boolean }) => {
      const context = await openCliContext();
      denyEnrollment(context, id, options.reason ?? null, CLI_ACTOR);
      printOutcome(options.json ?? false, { id, status: 'denied' }, `denied: ${id}`);
    });
}
