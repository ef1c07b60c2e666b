import type { AdminSession } from '../admin/admin-sessions.js';
import type { AppEnv } from '../app-env.js';

/** What the admin page's middleware gives its handlers. */
export interface WebEnv {
  Variables: AppEnv['Variables'] & {
    /** The logged-in browser's session (absent on the login page). */
    session: AdminSession;
  };
}
