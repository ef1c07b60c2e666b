/**
 * Copies of a repository's `config` file, one per version the server saw,
 * named for the moment it saw them: `config.2026-11-27T03:00:00.000Z`. The
 * config holds the repository key, which a VM can replace even in append-only
 * mode (`borg key change-passphrase`, `borg key import`); a restore puts back
 * the last version seen before the attack.
 */
const VERSION_PATTERN = /^config\.(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$/;

export function configVersionName(seenAt: Date): string {
  return `config.${seenAt.toISOString()}`;
}

export function configVersionTime(name: string): Date | null {
  const match = VERSION_PATTERN.exec(name);
  return match ? new Date(match[1] as string) : null;
}

/** The newest version seen strictly before `before`, or null. */
export function lastConfigVersionBefore(names: readonly string[], before: Date): string | null {
  let chosen: { name: string; time: number } | null = null;
  for (const name of names) {
    const time = configVersionTime(name)?.getTime();
    if (time === undefined || time >= before.getTime()) continue;
    if (chosen === null || time > chosen.time) chosen = { name, time };
  }
  return chosen?.name ?? null;
}

/** The newest version of all, or null. */
export function newestConfigVersion(names: readonly string[]): string | null {
  return lastConfigVersionBefore(names, new Date(8.64e15));
}

/**
 * How much config history the server keeps per host. The restore wants the
 * version from before an attack, and an attacker who churns the config
 * (`borg key change-passphrase` in a loop: append-only mode allows it) would
 * push every older version out of a plain ring. So the first versions (the
 * key as the host's owner made it) are kept for good, then the newest ones;
 * the middle goes, oldest first. A host that churns is disabled long before
 * its churn fills the newest slots (see isConfigChurning): the version it had
 * before the attack stays among them.
 */
export interface ConfigHistoryLimits {
  maxVersions: number;
  maxBytes: number;
  keepFirst: number;
  maxVersionBytes: number;
}

export const CONFIG_HISTORY_LIMITS: Readonly<ConfigHistoryLimits> = {
  maxVersions: 20,
  maxBytes: 512 * 1024,
  keepFirst: 4,
  /** A borg config with its key is a few KiB; a bigger one is not kept (a client can save a key of any size). */
  maxVersionBytes: 64 * 1024,
};

/** The versions to remove so that the history keeps within its count and bytes: the middle ones, oldest first. */
export function configVersionsToDrop(
  versions: readonly { name: string; bytes: number }[],
  limits: Pick<ConfigHistoryLimits, 'maxVersions' | 'maxBytes' | 'keepFirst'> = CONFIG_HISTORY_LIMITS,
): string[] {
  const kept = versions
    .map((version) => ({ ...version, time: configVersionTime(version.name)?.getTime() }))
    .filter((version): version is { name: string; bytes: number; time: number } => version.time !== undefined)
    .sort((a, b) => a.time - b.time);
  let bytes = kept.reduce((total, version) => total + version.bytes, 0);
  const dropped: string[] = [];
  // The very first and the newest version always stay; past the first `keepFirst`, the middle goes first.
  while ((kept.length > limits.maxVersions || bytes > limits.maxBytes) && kept.length > 2) {
    const index = kept.length - 1 > limits.keepFirst ? limits.keepFirst : 1;
    const [gone] = kept.splice(index, 1);
    if (gone === undefined) break;
    bytes -= gone.bytes;
    dropped.push(gone.name);
  }
  return dropped;
}

/** More new versions in the window than a host's owner makes (borg writes its config at init and at key changes only). */
export const CONFIG_CHURN: Readonly<{ maxVersions: number; windowMs: number }> = { maxVersions: 10, windowMs: 3_600_000 };

/**
 * Whether the versions recorded at these times are a churn: more than
 * `maxVersions` within `windowMs` up to now, counting only those after
 * `since` (the last change an admin made to the host: enabling it again, or
 * the restore that puts its key back, starts a fresh count).
 */
export function isConfigChurning(
  recordedAt: readonly Date[],
  now: Date,
  since: Date | null = null,
  churn: Readonly<{ maxVersions: number; windowMs: number }> = CONFIG_CHURN,
): boolean {
  const from = Math.max(now.getTime() - churn.windowMs, since?.getTime() ?? Number.NEGATIVE_INFINITY);
  return recordedAt.filter((time) => time.getTime() > from).length > churn.maxVersions;
}

/**
 * A repository config without the line borg's partial check keeps its place
 * in (`last_segment_checked`, written by the server's own checks, as the host):
 * two configs that differ only there are the same version.
 */
export function withoutCheckProgress(config: string): string {
  return config.replace(/^last_segment_checked = \d+\r?\n?/m, '');
}
