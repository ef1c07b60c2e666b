// The host row the benchmarks seed a database with: what `borgctl createuser` makes.
export const BENCH_KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

/**
 * @param {string} name
 * @param {number} uid
 * @param {Record<string, unknown>} [overrides] e.g. { quotaBytes: 50e9, keyBase64, createdAt }
 */
export function benchHostRow(name, uid, overrides = {}) {
  const now = new Date();
  return {
    name,
    uid,
    keyType: 'ssh-ed25519',
    keyBase64: BENCH_KEY,
    fingerprint: 'SHA256:bench',
    appendOnly: true,
    quotaBytes: null,
    allowFrom: null,
    status: 'active',
    origin: 'createuser',
    enrollmentId: null,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/** A host's backup figures as the API keeps them: every third host stale (its last backup a day and a half ago). */
export function benchBackupStateRow(hostName, index, now) {
  return {
    hostName,
    lastSessionAt: now,
    lastBackupAt: new Date(now.getTime() - (index % 3 === 0 ? 36 : 2) * 3600_000),
    repositoryBytes: 1e9,
    updatedAt: now,
  };
}
