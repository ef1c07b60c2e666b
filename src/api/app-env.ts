export interface AppEnv {
  Variables: {
    /** The admin token id, set by requireAdmin. */
    adminId: string;
    clientAddress: string | null;
  };
}
