import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';

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

/** Every process in /proc with its real UID and status text; one that ends while it is read is left out. */
export function* processStatuses(procDir: string): Generator<{ pid: string; realUid: number; status: string }> {
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`${procDir}/${entry}/status`, 'utf8');
    } catch {
      continue;
    }
    yield { pid: entry, realUid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1), status };
  }
}

/** One buffer for every status read: /proc/PID/status is about 1.5 kB, and its Uid line comes early. */
const statusBuffer = Buffer.alloc(4096);
const UID_FIELD = Buffer.from('\nUid:');

/**
 * Every process in /proc with its real UID, as processStatuses, but without
 * the text of each status: read into one buffer and parsed there, so that a
 * look at a table of thousands of processes (the session watchers, several
 * times a second) allocates next to nothing.
 */
export function* processRealUids(procDir: string): Generator<{ pid: string; realUid: number }> {
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    let length: number;
    try {
      const fd = openSync(`${procDir}/${entry}/status`, 'r');
      try {
        length = readSync(fd, statusBuffer, 0, statusBuffer.length, null);
      } finally {
        closeSync(fd);
      }
    } catch {
      continue;
    }
    yield { pid: entry, realUid: realUidIn(statusBuffer, length) };
  }
}

function realUidIn(status: Buffer, length: number): number {
  const at = status.subarray(0, length).indexOf(UID_FIELD);
  if (at < 0) return -1;
  let uid = 0;
  let digits = 0;
  let index = at + UID_FIELD.length;
  while (index < length && (status[index] === 0x20 || status[index] === 0x09)) index += 1;
  for (; index < length; index += 1) {
    const code = status[index] as number;
    if (code < 48 || code > 57) break;
    uid = uid * 10 + (code - 48);
    digits += 1;
  }
  return digits === 0 ? -1 : uid;
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
