import { AppError } from '../errors.js';

/**
 * Storage quotas, written like borg writes them ("500G", decimal units) or as
 * a plain number of bytes. borg serve refuses quotas under 10M.
 */
const UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
export const MIN_QUOTA_BYTES = 10e6;
const MAX_QUOTA_BYTES = 2 ** 53 - 1;

export function parseQuota(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return checkQuota(value);
  if (typeof value !== 'string') throw new AppError('INVALID_QUOTA', 'quota must be like "500G" or a number of bytes');
  const match = /^(\d{1,16})(?:\.(\d{1,3}))?([KMGTP]?)$/.exec(value.trim().toUpperCase());
  if (!match) throw new AppError('INVALID_QUOTA', 'quota must be like "500G" or a number of bytes');
  const [, whole = '0', fraction = '', unit = ''] = match;
  const multiplier = UNITS[unit] ?? 1;
  const bytes = Math.round(Number(`${whole}.${fraction || '0'}`) * multiplier);
  return checkQuota(bytes);
}

function checkQuota(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_QUOTA_BYTES || bytes > MAX_QUOTA_BYTES) {
    throw new AppError('INVALID_QUOTA', 'quota must be at least 10M (borg refuses smaller ones)');
  }
  return bytes;
}

export function formatBytes(bytes: number): string {
  for (const unit of ['P', 'T', 'G', 'M', 'K']) {
    const size = UNITS[unit] ?? 1;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
