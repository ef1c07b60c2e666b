import { describe, expect, it } from 'vitest';
import { useSshKeys } from '../support/fixture-hooks.js';
import { useServer } from '../support/sandbox-hooks.js';

/**
 * borgctl as a script drives it against the running server: `--json` prints one
 * JSON document on standard output, and a list command reads every page of its
 * list itself (`--page-size`, hidden, makes these short lists span pages).
 */
const keys = useSshKeys({ vm0: 'ed25519', vm1: 'ed25519', vm2: 'ed25519', legacy: 'ed25519' });

describe('borgctl --json', () => {
  const setup = useServer();

  /** Runs borgctl; its standard output must be exactly one JSON document. */
  async function json<T = Record<string, unknown>>(arguments_: string[]): Promise<T> {
    const result = await setup.server.sandbox.borgctl(arguments_);
    return JSON.parse(result.stdout) as T;
  }

  it('prints each list whole, read in pages, and each change as one JSON document', async () => {
    const { api } = setup.server;
    const vms = [keys.vm0, keys.vm1, keys.vm2];

    // Enrollment tokens: `token create --json` gives the token with its id; the list comes out whole.
    const minted: { jti: string; token: string }[] = [];
    for (const [index] of vms.entries()) minted.push(await json(['token', 'create', '--host', `vm${index}`, '--json']));
    expect(minted.map((token) => token.token)).toEqual([expect.any(String), expect.any(String), expect.any(String)]);
    const tokens = await json<{ jti: string }[]>(['token', 'list', '--json', '--page-size', '2']);
    expect(tokens.map((token) => token.jti).sort()).toEqual(minted.map((token) => token.jti).sort());
    expect(await json(['token', 'list', '--json'])).toEqual(tokens);

    // Enrollments: three pending, listed whole in pages of one, newest first.
    const enrolled = [];
    for (const [index, key] of vms.entries()) enrolled.push(await api.enroll(minted[index]?.token ?? '', `vm${index}`, key.publicKey));
    const pending = await json<{ id: string; status: string }[]>([
      'enrollments',
      'list',
      '--status',
      'pending',
      '--json',
      '--page-size',
      '1',
    ]);
    expect(pending.map((enrollment) => enrollment.id).sort()).toEqual(enrolled.map((enrollment) => enrollment.id).sort());
    expect(await json(['enrollments', 'list', '--json'])).toEqual(pending);

    // Changes answer with what they did.
    const approved = await json(['enrollments', 'approve', enrolled[0]?.id ?? '', '--fingerprint', keys.vm0.fingerprint, '--json']);
    expect(approved).toMatchObject({ id: enrolled[0]?.id, status: 'approved', host: { name: 'vm0', fingerprint: keys.vm0.fingerprint } });
    expect(await json(['enrollments', 'deny', enrolled[1]?.id ?? '', '--json'])).toEqual({ id: enrolled[1]?.id, status: 'denied' });
    expect(await json(['createuser', 'legacy1', keys.legacy.publicKey, '--json'])).toMatchObject({
      host: { name: 'legacy1', fingerprint: keys.legacy.fingerprint },
      previous: null,
    });
    expect(await json(['hosts', 'disable', 'legacy1', '--json'])).toEqual({ name: 'legacy1', status: 'disabled' });

    // Hosts: by name, whole, in pages of one.
    const hosts = await json<{ name: string; status: string }[]>(['hosts', 'list', '--json', '--page-size', '1']);
    expect(hosts.map(({ name, status }) => `${name} ${status}`)).toEqual(['legacy1 disabled', 'vm0 active']);

    // Admin tokens: the sandbox's own and one more, whole in pages of one; a revoke says so.
    const created = await json<{ id: string; token: string; role: string }>([
      'admin-token',
      'create',
      '--label',
      'ci',
      '--role',
      'read',
      '--json',
    ]);
    expect(created).toMatchObject({ role: 'read', token: expect.stringMatching(/^bsa_/) });
    const adminTokens = await json<{ id: string; label: string }[]>(['admin-token', 'list', '--json', '--page-size', '1']);
    expect(adminTokens).toHaveLength(2);
    expect(adminTokens[0]).toMatchObject({ id: created.id, label: 'ci' });
    expect(await json(['admin-token', 'revoke', created.id, '--json'])).toEqual({ id: created.id, status: 'revoked' });
  });

  it('refuses a bad page size with a message, a non-zero exit and nothing on standard output', async () => {
    const result = await setup.server.sandbox.borgctl(['hosts', 'list', '--json', '--page-size', '0'], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/--page-size must be a whole number from 1 to 1000/);
    expect(result.stdout).toBe('');
  });
});
