import type { AdminIdentity } from './admin/admin-tokens.js';

export interface AppEnv {
  Variables: {
    /** The admin token a request came with (a bearer token, or the page's session), set by requireAdmin or requireSession. */
    admin: AdminIdentity;
    clientAddress: string | null;
  };
}
