import type { Queryable } from '../../src/db/connection.js';
import { type HostKeyAndPolicy, type HostRow, upsertHost } from '../../src/enrollment/hosts-store.js';

/** A real ed25519 public key (its base64), for rows whose key line is rendered. */
export const TEST_HOST_KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIBrHwmNDEGs4Ckn6cZHWXKx7Pwx4xYTApDbSTD56D9mK';

/**
 * A host row as `borgctl createuser NAME KEY` makes it (append-only, no quota,
 * no source range), written straight to the database; a test passes only the
 * fields it is about.
 */
export function addHostRow(db: Queryable, name: string, at: Date, fields: Partial<HostKeyAndPolicy> = {}): HostRow {
  return upsertHost(
    db,
    {
      name,
      keyType: 'ssh-ed25519',
      keyBase64: TEST_HOST_KEY,
      fingerprint: `SHA256:${name}`,
      appendOnly: true,
      quotaBytes: null,
      allowFrom: null,
      origin: 'createuser',
      enrollmentId: null,
      ...fields,
    },
    at,
  );
}
