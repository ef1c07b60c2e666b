import { checkFields, type RestorePointsResult, reconcileFields, restorePointsFields } from '../../channel/supervisor-requests.js';
import type { Db } from '../../db/connection.js';
import { repositoryPath } from '../../domain/authorized-keys.js';
import { AppError } from '../../errors.js';
import { findLiveHost } from '../../host-records/hosts-store.js';
import type { Logger } from '../../log.js';
import type { IntegrityChecks } from '../checks/integrity-check.js';
import { readRestorePoints } from '../restore/roll-back-repository.js';
import { defineRequest, type RequestDefinition } from './request-table.js';

/**
 * Root's handlers for the requests it has answered since before the request
 * table: reconcile, check, restore-points. serve.ts puts them in its table
 * beside any others.
 */

export interface SupervisorRequestOptions {
  reconcileNow: () => Promise<void>;
  checks: Pick<IntegrityChecks, 'request' | 'checkNow'>;
  db: Db;
  backupDir: string;
  logger: Logger;
}

export function supervisorRequestDefinitions(options: SupervisorRequestOptions): Record<string, RequestDefinition> {
  const { reconcileNow, checks, db, backupDir, logger } = options;
  return {
    reconcile: defineRequest({
      schema: reconcileFields,
      from: ['api', 'cli'],
      async handle() {
        try {
          await reconcileNow();
        } catch (error) {
          logger.error({ err: error }, 'reconcile failed');
          throw new AppError('RECONCILE_FAILED', 'the server could not reconcile; see its log');
        }
        return null;
      },
    }),
    check: defineRequest({
      schema: checkFields,
      from: ['api', 'cli'],
      handle({ host }, origin) {
        // The API's asks are queued (one check at a time, never during a session): answered at once.
        if (origin === 'api') {
          checks.request(host);
          return null;
        }
        return checks.checkNow(host);
      },
    }),
    'restore-points': defineRequest({
      schema: restorePointsFields,
      from: ['api'],
      handle: ({ host }) => answerRestorePoints(host, db, backupDir),
    }),
  };
}

/** The commits of a live host's repository, or an AppError saying why there are none to show. */
export function answerRestorePoints(hostName: string, db: Db, backupDir: string): RestorePointsResult {
  if (!findLiveHost(db, hostName)) throw new AppError('NOT_FOUND', `no host named "${hostName}"`);
  const { newest, total } = readRestorePoints(repositoryPath(backupDir, hostName));
  return { points: newest.map((point) => ({ id: point.id, committedAt: point.committedAt.toISOString() })), total };
}
