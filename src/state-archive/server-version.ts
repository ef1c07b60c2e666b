import { readFileSync } from 'node:fs';

/** The version in package.json (next to src/ and dist/ alike), written into each state copy's manifest. */
export function readServerVersion(): string {
  const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof packageJson.version === 'string' ? packageJson.version : 'unknown';
}
