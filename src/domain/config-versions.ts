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
