import { lstatSync } from 'node:fs';
import { isHostAccountUid } from '../../domain/host-uid.js';
import { AppError } from '../../errors.js';
import { type Account, asAccount } from './effective-account.js';

/**
 * A repository belongs to its host, who may have put links in it (a
 * `transactions` pointing at a root file, a `data` directory swapped for a
 * link): root touches nothing in it by name. The repository itself is
 * looked at with lstat (its parent, BACKUP_DIR/NAME, is root's, so that
 * name is safe), and the work inside it runs as its owner, so no link there
 * reaches anything the host could not reach itself.
 */

/** For readRegularFileIfExists as the owner: a hard link reaches only what the owner may read anyway. */
export const AS_OWNER = { mayHaveOtherNames: true };

/** The owner of `repository`, which must be a real directory owned by a host UID. */
export function repositoryOwner(repository: string): Account {
  const stats = lstatSync(repository, { throwIfNoEntry: false });
  if (stats === undefined) throw new AppError('NOT_FOUND', `no repository at ${repository}`);
  if (!stats.isDirectory()) throw new AppError('UNSAFE_PATH', `refusing ${repository}: it is not a directory`);
  if (!isHostAccountUid(stats.uid))
    throw new AppError('UNSAFE_PATH', `refusing ${repository}: it is owned by UID ${stats.uid}, not a host`);
  return { uid: stats.uid, gid: stats.gid };
}

/** Runs sync work inside `repository` as its owner. */
export function asRepositoryOwner<T>(repository: string, action: (owner: Account) => T): T {
  const owner = repositoryOwner(repository);
  return asAccount(owner, () => action(owner));
}
