import type { Config } from '../config.js';
import type { Db } from '../db/connection.js';

/** What root's operations (restore, import, the requests of the API) are handed: root's own database, never the API's. */
export interface RootContext {
  db: Db;
  config: Config;
  now: () => Date;
  /** Makes the system match root's database (the running server's reconcile, or this process's when none runs). */
  requestReconcile: () => Promise<void>;
}
