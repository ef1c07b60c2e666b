import { z } from 'zod';
import { repositoryChecks } from '../../db/schema.js';
import type { Actor } from '../../domain/actor.js';
import { AppError } from '../../errors.js';
import { listChecks, type RepositoryCheckRow } from '../../host-records/repository-checks.js';
import { recordAudit } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { timestamp } from '../json-values.js';
import { type PageRequest, pageOf } from '../list-pages.js';
import { getHost } from './hosts.js';

/** A check's row (RepositoryCheckRow) as JSON; `endedAt` and `outcome` are null while it runs. */
export const hostCheckBody = z
  .strictObject({
    id: z.number().int(),
    hostName: z.string(),
    startedAt: timestamp,
    endedAt: timestamp.nullable(),
    outcome: z.enum(repositoryChecks.outcome.enumValues).nullable(),
    detail: z.string().nullable(),
  })
  .meta({ id: 'HostCheck' });

/** What the API and the CLI show of a host's repository checks: one page, newest first. */
export function listHostChecks(
  context: ServerContext,
  hostName: string,
  request: PageRequest<number>,
): { checks: RepositoryCheckRow[]; nextCursor: string | null } {
  getHost(context, hostName);
  const page = pageOf(listChecks(context.db, hostName, request.limit + 1, request.after), request.limit, (row) => row.id);
  return { checks: page.rows, nextCursor: page.nextCursor };
}

/** Asks the server to check the host's repository as soon as it can (no other check running, no session open). */
export async function queueHostCheck(context: ServerContext, hostName: string, by: Actor): Promise<void> {
  getHost(context, hostName);
  if (!context.requestCheck) throw new AppError('CHECK_UNAVAILABLE', 'no server runs to check repositories');
  // Audited once root has taken it: a host with no repository yet is refused (NO_REPOSITORY_YET), nothing queued.
  await context.requestCheck(hostName);
  recordAudit(context.db, context.now(), { ...by, action: 'host.check.request', target: hostName });
}
