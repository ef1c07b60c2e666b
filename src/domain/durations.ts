import { AppError } from '../errors.js';

const SECONDS_PER_UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "15m", "2h", "7d", or a whole number of seconds, to seconds. */
export function parseDurationSeconds(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string') {
    const match = /^(\d{1,9})([smhdw]?)$/.exec(value.trim());
    if (match) {
      const seconds = Number(match[1]) * (SECONDS_PER_UNIT[match[2] || 's'] ?? 1);
      if (seconds > 0) return seconds;
    }
  }
  throw new AppError('INVALID_DURATION', 'duration must be like "15m", "2h", "7d" or a number of seconds');
}
