/**
 * Acting as another account for a moment, the way OpenSSH's
 * temporarily_use_uid reads a user's files: root takes the account's
 * effective UID, GID and (only) group for a synchronous piece of file work,
 * then becomes root again. Used where root must work inside a directory that
 * account owns (a host's repository): a symlink or a
 * swapped name there can then reach nothing the account could not reach
 * itself, and files made there are that account's from the start.
 *
 * seteuid acts on the whole process (glibc applies it to every thread), so
 * file work of libuv's thread pool running at that moment runs with fewer
 * rights too: it may fail, never gain. A process that is not root (the API
 * process, tests run as a user) just runs the action: it has no rights to give away.
 */

export interface Account {
  uid: number;
  gid: number;
}

export function asAccount<T>(account: Account, action: () => T): T {
  if (process.geteuid?.() !== 0 || account.uid === 0) return action();
  const groups = process.getgroups?.() ?? [];
  try {
    process.setgroups?.([account.gid]);
    process.setegid?.(account.gid);
    process.seteuid?.(account.uid);
    const result = action();
    if (result instanceof Promise) throw new TypeError('asAccount runs synchronous work only: the rights change for the whole process');
    return result;
  } finally {
    process.seteuid?.(0);
    process.setegid?.(0);
    process.setgroups?.(groups);
  }
}
