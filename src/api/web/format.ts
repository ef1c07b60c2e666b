/** How the admin page writes times, sizes and durations: plain text, the same on every page. */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** 1234567 → "1.2 MB" (decimal units, as borg prints them). */
export function humanBytes(bytes: number | null): string {
  if (bytes === null) return '–';
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${UNITS[unit]}`;
}

/** 5400 → "1 h 30 min"; at most two units. */
export function humanDuration(seconds: number): string {
  const parts: string[] = [];
  let rest = Math.max(0, Math.round(seconds));
  for (const [size, name] of [
    [86_400, 'd'],
    [3600, 'h'],
    [60, 'min'],
    [1, 's'],
  ] as const) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    }
  }
  return parts.length > 0 ? parts.join(' ') : '0 s';
}

/** "3 h ago", "in 20 min". */
export function relativeTime(at: Date, now: Date): string {
  const seconds = (now.getTime() - at.getTime()) / 1000;
  if (Math.abs(seconds) < 60) return 'just now';
  return seconds > 0 ? `${humanDuration(seconds)} ago` : `in ${humanDuration(-seconds)}`;
}

/** "2026-12-02 18:58 UTC": the server's times are UTC everywhere. */
export function utcTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** 93600 → "26h", 604800 → "1w": the form the duration fields take back. */
export function durationInput(seconds: number): string {
  for (const [size, unit] of [
    [604_800, 'w'],
    [86_400, 'd'],
    [3600, 'h'],
    [60, 'm'],
  ] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
