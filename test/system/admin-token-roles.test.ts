import { describe, expect, it } from 'vitest';
import { useServer } from '../support/sandbox-hooks.js';

/** `borgctl admin-token create --role --expires` as an admin runs it, against the running server. */
describe('borgctl admin-token create with a role', () => {
  const setup = useServer();

  async function adminTokens(): Promise<{ label: string; role: string; expiresAt: string | null }[]> {
    const listed = await setup.server.sandbox.borgctl(['admin-token', 'list', '--json']);
    return JSON.parse(listed?.stdout ?? '[]');
  }

  it('creates a metrics token that scrapes /metrics, is refused the rest with 403, and expires in 90 days', async () => {
    const { sandbox } = setup.server;
    const created = await sandbox.borgctl(['admin-token', 'create', '--label', 'prometheus', '--role', 'metrics', '--expires', '90d']);
    const token = created.stdout.trimEnd().split('\n').at(-1) ?? '';
    const asMetrics = { headers: { authorization: `Bearer ${token}` } };
    expect((await fetch(`${sandbox.baseUrl}/metrics`, asMetrics)).status).toBe(200);
    const refused = await fetch(`${sandbox.baseUrl}/v1/admin/hosts`, asMetrics);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'FORBIDDEN', requiredRole: 'read' });
    const listed = (await adminTokens()).find((row) => row.label === 'prometheus');
    expect(listed?.role).toBe('metrics');
    const days = (Date.parse(listed?.expiresAt ?? '') - Date.now()) / 86400_000;
    expect(days).toBeGreaterThan(89);
    expect(days).toBeLessThanOrEqual(90);
  });

  it.each([
    [['--role', 'superuser'], /role must be one of admin, read, metrics, enroll/],
    [['--expires', '90 days'], /duration must be like/],
    [['--expires', '9999d'], /at most 3650d/],
  ])('refuses %j with a message and a non-zero exit, and creates nothing', async (options, message) => {
    const { sandbox } = setup.server;
    const before = await adminTokens();
    const result = await sandbox.borgctl(['admin-token', 'create', '--label', 'typo', ...options], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toMatch(/bsa_/);
    expect(await adminTokens()).toEqual(before);
  });
});
