/** Who did something, for the audit log (the API's, and root's audit reports). */
export interface Actor {
  actor: string;
  sourceAddress?: string | null;
}
