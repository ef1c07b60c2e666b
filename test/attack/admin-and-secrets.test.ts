import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type HttpResponse, httpRequest } from '../support/attack-http.js';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import { createAdminToken } from '../support/sandbox-api.js';
import { createKeyDirectory, type GeneratedSshKey, type KeyDirectory } from '../support/ssh-keys.js';

/**
 * The admin API and the secrets, against the real server over HTTP: no token,
 * a wrong or revoked one, fast guessing, guessing enrollment ids; then a
 * search of the server's output, audit log, error bodies and database files
 * for every secret this file handled.
 */

const ADMIN_ROUTES: [string, string, unknown?][] = [
  ['GET', '/v1/admin/hosts'],
  ['GET', '/v1/admin/hosts/web1'],
  ['PATCH', '/v1/admin/hosts/web1', { appendOnly: false }],
  ['DELETE', '/v1/admin/hosts/web1?purge=true'],
  ['POST', '/v1/admin/tokens', { host: 'intruder', autoApprove: true }],
  ['GET', '/v1/admin/tokens'],
  ['DELETE', '/v1/admin/tokens/abcdefghijklmnopqrstuv'],
  ['GET', '/v1/admin/enrollments'],
  ['POST', '/v1/admin/enrollments/abcdefghijklmnopqrstuv/approve', { fingerprint: 'SHA256:x', replaceKey: true }],
  ['GET', '/v1/admin/audit'],
];

describe('the admin API and the secrets', () => {
  const server = useAttackServer();
  let keys: KeyDirectory;
  let vmKey: GeneratedSshKey;
  let nextAddress = 10;
  /** Every secret this file saw, and every error body the server sent back. */
  const secrets = new Map<string, string>();
  const errorBodies: string[] = [];

  beforeAll(async () => {
    keys = createKeyDirectory();
    vmKey = keys.generate('vm', 'ed25519');
    secrets.set('admin token', server().api.adminToken);
  });

  afterAll(() => keys?.remove());

  const freshAddress = () => `127.0.0.${nextAddress++}`;

  async function call(method: string, path: string, options: Parameters<typeof httpRequest>[3] = {}): Promise<HttpResponse> {
    const response = await httpRequest(server().sandbox.baseUrl, method, path, options);
    if (response.status >= 400) errorBodies.push(response.text);
    return response;
  }

  /** What an unauthorised request could have changed. */
  async function adminState(): Promise<string> {
    const bearer = server().api.adminToken;
    const parts = await Promise.all(
      ['/v1/admin/hosts', '/v1/admin/tokens', '/v1/admin/enrollments'].map((path) => server().api.request('GET', path, { bearer })),
    );
    return JSON.stringify(parts.map((part) => part.body));
  }

  async function everyRoute(bearer: string | undefined, from: string): Promise<number[]> {
    const statuses: number[] = [];
    for (const [method, path, body] of ADMIN_ROUTES) {
      statuses.push(
        (await call(method, path, { ...(bearer === undefined ? {} : { bearer }), ...(body === undefined ? {} : { body }), from })).status,
      );
    }
    return statuses;
  }

  describe('admin routes', () => {
    const group = 'network: admin API';

    beforeAll(async () => {
      // Something for the routes to act on.
      const { token } = await server().api.mintEnrollmentToken({ host: 'web1', autoApprove: true });
      secrets.set('enrollment token (auto-approved)', token);
      const enrolled = await call('POST', '/v1/enroll', { bearer: token, body: { hostname: 'web1', publicKey: vmKey.publicKey } });
      expect(enrolled.status).toBe(202);
    });

    attack(group, 'reach every admin route without a token', async () => {
      const before = await adminState();
      const statuses = await everyRoute(undefined, freshAddress());
      expect(statuses.every((status) => status === 401)).toBe(true);
      expect(await adminState()).toBe(before);
      return `${ADMIN_ROUTES.length} routes: all 401; nothing changed`;
    });

    attack(group, 'reach every admin route with a wrong token (right id, wrong secret; random; Basic)', async () => {
      const before = await adminState();
      const [, id = ''] = /^bsa_([^_]+)_/.exec(server().api.adminToken) ?? [];
      const wrong = [`bsa_${id}_${randomBytes(32).toString('base64url')}`, `bsa_${randomBytes(9).toString('base64url')}_x`, 'admin', ''];
      const from = freshAddress();
      const statuses: number[] = [];
      for (const token of wrong.slice(0, 1)) statuses.push(...(await everyRoute(token, from)));
      for (const token of wrong.slice(1)) statuses.push((await call('GET', '/v1/admin/hosts', { bearer: token, from })).status);
      statuses.push(
        (
          await call('GET', '/v1/admin/hosts', {
            headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
            from,
          })
        ).status,
      );
      expect(statuses.every((status) => status === 401)).toBe(true);
      expect(await adminState()).toBe(before);
      return `${statuses.length} requests: all 401; nothing changed`;
    });

    attack(group, 'reach every admin route with a revoked admin token', async () => {
      const { sandbox } = server();
      const revokedToken = await createAdminToken(sandbox);
      secrets.set('revoked admin token', revokedToken);
      const from = freshAddress();
      const beforeRevoke = await call('GET', '/v1/admin/hosts', { bearer: revokedToken, from });
      expect(beforeRevoke.status).toBe(200);
      const [, id = ''] = /^bsa_([^_]+)_/.exec(revokedToken) ?? [];
      await sandbox.borgctl(['admin-token', 'revoke', id]);
      const before = await adminState();
      const statuses = await everyRoute(revokedToken, from);
      expect(statuses.every((status) => status === 401)).toBe(true);
      expect(await adminState()).toBe(before);
      return `worked before (200); after borgctl admin-token revoke: ${statuses.length} routes all 401`;
    });

    attack(group, 'guess admin tokens fast (failures are rate-limited per address)', async () => {
      const from = freshAddress();
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 25; attempt += 1) {
        statuses.push(
          (
            await call('GET', '/v1/admin/hosts', {
              bearer: `bsa_${randomBytes(9).toString('base64url').slice(0, 12)}_${randomBytes(32).toString('base64url')}`,
              from,
            })
          ).status,
        );
      }
      const rightTokenFromThere = await call('GET', '/v1/admin/hosts', { bearer: server().api.adminToken, from });
      const rightTokenElsewhere = await call('GET', '/v1/admin/hosts', { bearer: server().api.adminToken, from: freshAddress() });
      const firstLimited = statuses.indexOf(429);
      expect(firstLimited).toBeGreaterThan(0);
      expect(firstLimited).toBeLessThanOrEqual(20);
      expect(statuses.slice(firstLimited).every((status) => status === 429)).toBe(true);
      expect(rightTokenFromThere.status).toBe(429);
      expect(rightTokenElsewhere.status).toBe(200);
      return `${firstLimited} × 401, then 429 (even for the right token from that address); other addresses unaffected`;
    });

    attack(group, 'guess enrollment ids (misses are rate-limited per address)', async () => {
      const { token } = await server().api.mintEnrollmentToken();
      secrets.set('enrollment token (pending)', token);
      const real = await call('POST', '/v1/enroll', { bearer: token, body: { hostname: 'pending1', publicKey: vmKey.publicKey } });
      expect(real.status).toBe(202);
      const from = freshAddress();
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 70; attempt += 1) {
        statuses.push((await call('GET', `/v1/enrollments/${randomBytes(16).toString('base64url')}`, { from })).status);
      }
      const knownHosts = await call('GET', `/v1/enrollments/${randomBytes(16).toString('base64url')}/known_hosts`, { from });
      const realFromThere = await call('GET', `/v1/enrollments/${real.body.id}`, { from });
      const firstLimited = statuses.indexOf(429);
      expect(statuses.slice(0, firstLimited).every((status) => status === 404)).toBe(true);
      expect(firstLimited).toBeGreaterThan(0);
      expect(firstLimited).toBeLessThanOrEqual(60);
      expect(statuses.slice(firstLimited).every((status) => status === 429)).toBe(true);
      expect(knownHosts.status).toBe(429);
      expect(realFromThere.status).toBe(429);
      expect(String(real.body.id)).toMatch(/^[A-Za-z0-9_-]{22}$/);
      return `ids are 128 random bits; ${firstLimited} × 404, then 429 (the real id too) from that address`;
    });
  });

  describe('secrets', () => {
    const group = 'network: secrets';

    beforeAll(async () => {
      const { sandbox, api } = server();
      // Tokens in every state, and errors that carry them in the request.
      const used = await api.mintEnrollmentToken();
      secrets.set('enrollment token (used)', used.token);
      await call('POST', '/v1/enroll', { bearer: used.token, body: { hostname: 'secret1', publicKey: vmKey.publicKey } });
      await call('POST', '/v1/enroll', { bearer: used.token, body: { hostname: 'secret2', publicKey: vmKey.publicKey } });
      const revoked = await api.mintEnrollmentToken();
      secrets.set('enrollment token (revoked)', revoked.token);
      await api.request('DELETE', `/v1/admin/tokens/${revoked.jti}`, { bearer: api.adminToken });
      await call('POST', '/v1/enroll', { bearer: revoked.token, body: { hostname: 'secret3', publicKey: vmKey.publicKey } });
      const unused = await api.mintEnrollmentToken({ host: 'secret4', ttl: '7d' });
      secrets.set('enrollment token (unused)', unused.token);
      await call('POST', '/v1/enroll', { bearer: unused.token, body: { hostname: 'not-secret4', publicKey: vmKey.publicKey } });
      await call('POST', '/v1/enroll', { bearer: `${unused.token}x`, body: { hostname: 'secret4', publicKey: vmKey.publicKey } });
      await call('POST', '/v1/enroll', { bearer: unused.token, body: { hostname: 'secret4', publicKey: 'ssh-ed25519 AAAA' } });
      const fromCli = await sandbox.borgctl(['token', 'create', '--host', 'secret5']);
      secrets.set('enrollment token (CLI)', fromCli.stdout.trim().split('\n').pop() ?? '');
      await call('GET', '/v1/admin/hosts', { bearer: `${api.adminToken}x`, from: freshAddress() });
      const signingKey = JSON.parse(await sandbox.readFile('/srv/state/db/signing/enrollment-signing-key.jwk')) as { d: string };
      secrets.set('token signing key (private d)', signingKey.d);
      for (const type of ['ed25519', 'rsa']) {
        const privateKey = await sandbox.readFile(`/srv/state/ssh/ssh_host_${type}_key`);
        // A line from the middle of the private key file.
        const lines = privateKey.split('\n').filter((line) => line && !line.startsWith('-----'));
        secrets.set(`SSH host key (${type})`, lines[Math.floor(lines.length / 2)] ?? '');
      }
      for (const [label, value] of secrets) if (value.length < 20) throw new Error(`the secret "${label}" was not captured`);
    });

    /** The labels of the secrets found in `text`, whole or by their secret part. */
    function secretsIn(text: string): string[] {
      return [...secrets]
        .filter(([, value]) => {
          const parts = [value, value.split('.')[2] ?? '', value.split('_').slice(2).join('_')].filter((part) => part.length >= 20);
          return parts.some((part) => text.includes(part));
        })
        .map(([label]) => label);
    }

    attack(group, 'find a secret in the server’s logs (supervisor, API, sshd)', async () => {
      const output = server().sandbox.server?.output() ?? '';
      expect(output.length).toBeGreaterThan(0);
      expect(secretsIn(output)).toEqual([]);
      return `${secrets.size} secrets looked for in ${output.split('\n').length} log lines: none found`;
    });

    attack(group, 'find a secret in the audit log', async () => {
      const audit = await server().api.request('GET', '/v1/admin/audit?limit=1000', { bearer: server().api.adminToken });
      const text = JSON.stringify(audit.body);
      expect((audit.body as { entries: unknown[] }).entries.length).toBeGreaterThan(5);
      expect(secretsIn(text)).toEqual([]);
      return `${(audit.body as { entries: unknown[] }).entries.length} audit entries: no secret`;
    });

    attack(group, 'find a secret in error bodies', async () => {
      expect(errorBodies.length).toBeGreaterThan(20);
      const found = errorBodies.flatMap(secretsIn);
      expect(found).toEqual([]);
      return `${errorBodies.length} error bodies (many answering a request that carried a token): no secret`;
    });

    attack(group, 'find a secret in the database files (borg.db, -wal, -shm)', async () => {
      const { sandbox } = server();
      const files = (await sandbox.exec(['sh', '-c', 'ls /srv/state/db/borg.db*'])).stdout.split('\n').filter(Boolean);
      let bytes = 0;
      for (const file of files) {
        const content = Buffer.from((await sandbox.exec(['base64', '-w0', file])).stdout, 'base64');
        bytes += content.length;
        expect(secretsIn(content.toString('latin1')), file).toEqual([]);
      }
      expect(files).toContain('/srv/state/db/borg.db');
      return `${files.length} files, ${bytes} bytes: no secret (tokens are stored as SHA-256 hashes)`;
    });
  });
});
