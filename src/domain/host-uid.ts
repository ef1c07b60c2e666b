/**
 * The UIDs a host account may have: Debian's range for ordinary accounts,
 * 1000-59999 (below are system accounts, root among them; above are
 * Debian's own allocations, nobody and the overflow IDs), without the ID of
 * the hosts group. New hosts get theirs from 20000 up
 * (src/host-records/hosts-store.ts); an upgrade from secured-borg-server keeps
 * an ancestor's UID from this range (src/root/upgrade/import-ancestor.ts).
 * Reconcile refuses a row whose UID is outside it: the database is written
 * by the unprivileged API, and a row must never give a host root's UID.
 */

export const HOST_ACCOUNT_UID_MIN = 1000;
export const HOST_ACCOUNT_UID_MAX = 59_999;
/** The group every host account is in (sshd's AllowGroups names it). */
export const HOSTS_GROUP_ID = 19_999;

export function isHostAccountUid(uid: unknown): boolean {
  return (
    typeof uid === 'number' &&
    Number.isSafeInteger(uid) &&
    uid >= HOST_ACCOUNT_UID_MIN &&
    uid <= HOST_ACCOUNT_UID_MAX &&
    uid !== HOSTS_GROUP_ID
  );
}
