import { closeSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';

/**
 * What any user may read of /proc: every process with its real UID and
 * status, and the mount namespace of those it may look into. Root's session
 * handling (src/root/processes/sessions.ts) and the choice of a new host's
 * UID on either side (uidsRunningIn) read the process table through here.
 */

/** A process's mount namespace (`mnt:[…]`), or null once it is gone or when it may not be read. */
export function mountNamespaceOf(procDir: string, pid: string): string | null {
  try {
    return readlinkSync(`${procDir}/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/**
 * How much of /proc/PID/status is read: its head, through the Uid and State
 * lines (Name, at most 64 bytes escaped, comes first). One read into one buffer
 * instead of readFileSync's stat, two reads and a decode of the whole file:
 * root's watches scan every process several times a second.
 */
const STATUS_HEAD_BYTES = 1024;
const statusBuffer = Buffer.allocUnsafe(STATUS_HEAD_BYTES);

function readStatusHead(path: string): string {
  const fd = openSync(path, 'r');
  try {
    return statusBuffer.toString('latin1', 0, readSync(fd, statusBuffer, 0, STATUS_HEAD_BYTES, null));
  } finally {
    closeSync(fd);
  }
}

/** Every process in /proc with its real UID and the head of its status text (through Uid and State); one that ends while it is read is left out. */
export function* processStatuses(procDir: string): Generator<{ pid: string; realUid: number; status: string }> {
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readStatusHead(`${procDir}/${entry}/status`);
    } catch {
      continue;
    }
    yield { pid: entry, realUid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1), status };
  }
}

/**
 * The UIDs from `low` to `high` that a live process runs as, for choosing a
 * new host's UID: one whose processes still run (a session of a host just
 * purged, killed but not yet gone) is not free. Counts processes of this
 * server's mount namespace, and those whose namespace it may not read (the
 * unprivileged API process, which allocates UIDs at approval, cannot read
 * other users'): better a UID skipped than one shared. Zombies do not count.
 */
export function uidsRunningIn(low: number, high: number, procDir = '/proc'): Set<number> {
  const ownNamespace = mountNamespaceOf(procDir, 'self');
  const found = new Set<number>();
  for (const { pid, realUid, status } of processStatuses(procDir)) {
    if (realUid < low || realUid > high || found.has(realUid) || /^State:\s+Z/m.test(status)) continue;
    let namespace: string;
    try {
      namespace = readlinkSync(`${procDir}/${pid}/ns/mnt`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES') found.add(realUid);
      continue;
    }
    if (namespace === ownNamespace) found.add(realUid);
  }
  return found;
}
