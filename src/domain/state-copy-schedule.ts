/**
 * The server's own copies of its state (src/root/state-backup/scheduled-state-copies.ts):
 * where they go, what they are named, when the next is due and which are
 * kept. Pure rules; the timer and the files are root's.
 */

/**
 * The directory of the copies inside the backup volume. A host's directory
 * there is named after the host, and a host name starts with a letter
 * (host-name.ts), so no host can ever have this one.
 */
export const STATE_COPIES_DIRECTORY = '.server-state';

/** How soon a server with no copy yet makes its first (at most), once its API has had time to make its database. */
export const FIRST_COPY_DELAY_MS = 60_000;

const COPY_NAME = /^server-state-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z\.tar$/;

/** `server-state-2026-12-05T20-00-00.000Z.tar`: the time it was made, in a name that sorts by it. */
export function stateCopyFileName(at: Date): string {
  return `server-state-${at.toISOString().replace(/:/g, '-')}.tar`;
}

export function isStateCopyFileName(name: string): boolean {
  return COPY_NAME.test(name);
}

/** When a copy was made, from its name; null for a name not of this form. */
export function stateCopyTime(name: string): Date | null {
  if (!isStateCopyFileName(name)) return null;
  const iso = name.slice('server-state-'.length, -'.tar'.length).replace(/T(\d{2})-(\d{2})-(\d{2})/, 'T$1:$2:$3');
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? null : at;
}

/** The copies beyond the newest `keep`, oldest first: those to remove. Other names are not copies and are left alone. */
export function copiesBeyondKept(names: readonly string[], keep: number): string[] {
  const copies = names.filter(isStateCopyFileName).sort();
  return copies.slice(0, Math.max(0, copies.length - keep));
}

/** Milliseconds until the next copy: one interval after the newest, at once when that is past, soon when there is none. */
export function nextCopyDelayMs(names: readonly string[], intervalMs: number, now: Date): number {
  const newest = names
    .map(stateCopyTime)
    .filter((at): at is Date => at !== null)
    .reduce<Date | null>((latest, at) => (latest === null || at > latest ? at : latest), null);
  if (newest === null) return Math.min(intervalMs, FIRST_COPY_DELAY_MS);
  return Math.max(0, Math.min(newest.getTime() + intervalMs - now.getTime(), intervalMs));
}
