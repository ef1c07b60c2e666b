import { and, eq, ne } from 'drizzle-orm';
import { fromHostRowMessage, type HostRowMessage } from '../../channel/host-row.js';
import type { Queryable } from '../../db/connection.js';
import { hosts } from '../../db/schema.js';
import { forgetHostMonitoring } from '../../host-records/forget-host.js';

/**
 * The API's copy of the hosts root serves (root's answers and reports):
 * what the pages, the API and the metrics show. Root's row wins; the ping
 * URL is the API's alone and is kept.
 */
export function copyHostRow(tx: Queryable, message: HostRowMessage): void {
  const { pingUrl: _rootHasNone, ...served } = fromHostRowMessage(message);
  // A UID root chose differs from the API's hint only when another row of the API's holds it: that row is stale.
  tx.delete(hosts)
    .where(and(eq(hosts.uid, served.uid), ne(hosts.name, served.name)))
    .run();
  tx.insert(hosts)
    .values({ ...served, pingUrl: null })
    .onConflictDoUpdate({ target: hosts.name, set: served })
    .run();
}

/** A purged host: its row and what the server saw of it go. */
export function forgetHost(tx: Queryable, name: string): void {
  tx.delete(hosts).where(eq(hosts.name, name)).run();
  forgetHostMonitoring(tx, name);
}
