import { randomBytes } from 'node:crypto';

/**
 * A random id of `bytes` bytes in base64url that never begins with '-': admins
 * pass these ids to borgctl (`enrollments approve ID`, `token revoke ID`), and
 * one in 64 would otherwise be read there as an option. Redrawing such a draw
 * costs less than a bit of the 128.
 */
export function randomCommandLineId(bytes = 16): string {
  for (;;) {
    const id = randomBytes(bytes).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
