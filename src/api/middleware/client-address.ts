import { getConnInfo } from '@hono/node-server/conninfo';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env.js';

/** The TCP peer's address (no proxy headers are trusted), or null in in-process tests. */
export const clientAddress = createMiddleware<AppEnv>(async function clientAddress(c, next) {
  let address: string | null = null;
  try {
    address = getConnInfo(c).remote.address ?? null;
  } catch {
    address = null;
  }
  c.set('clientAddress', address);
  await next();
});
