import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type HttpResponse, httpRequest } from '../support/attack-http.js';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import { enrollAndApprove } from '../support/sandbox-api.js';
import { type BorgClient, createBorgClient } from '../support/sandbox-client.js';
import { canGenerateDsa, createKeyDirectory, type GeneratedSshKey, type KeyDirectory } from '../support/ssh-keys.js';

/**
 * Hostile enrollments from the network against the real server: names and
 * keys meant to reach a shell, a path or a second key line; taking over a
 * name; getting an approval for a key the admin did not check.
 */

describe('hostile enrollments from the network', () => {
  const server = useAttackServer();
  const group = 'network: enrollment input';
  let keys: KeyDirectory;
  let ed25519: GeneratedSshKey;
  let other: GeneratedSshKey;
  const clients: BorgClient[] = [];
  let nextAddress = 10;

  beforeAll(() => {
    keys = createKeyDirectory();
    ed25519 = keys.generate('vm', 'ed25519');
    other = keys.generate('other', 'ed25519');
  });

  afterAll(async () => {
    keys?.remove();
    for (const client of clients) await client.remove();
  });

  const freshAddress = () => `127.0.0.${nextAddress++}`;

  function enroll(token: string, body: unknown, from: string, rawBody?: string): Promise<HttpResponse> {
    return httpRequest(server().sandbox.baseUrl, 'POST', '/v1/enroll', {
      bearer: token,
      from,
      ...(rawBody === undefined ? { body } : { rawBody, headers: { 'content-type': 'application/json' } }),
    });
  }

  async function adminGet<Body>(path: string): Promise<Body> {
    return (await server().api.request<Body>('GET', path, { bearer: server().api.adminToken })).body;
  }

  /** What the server holds that a hostile enrollment could have changed. */
  async function serverState(): Promise<string> {
    const { sandbox } = server();
    const listing = await sandbox.exec([
      'sh',
      '-c',
      'ls -A /srv/backups /srv/state/ssh/authorized_keys; getent passwd | cut -d: -f1 | sort',
    ]);
    const enrollments = await adminGet<{ enrollments: unknown[] }>('/v1/admin/enrollments');
    return `${listing.stdout}\n${JSON.stringify(enrollments.enrollments)}`;
  }

  attack(group, 'hostile host names: ../x, root, sshd, upper case, unicode, 200 characters, shell metacharacters', async () => {
    const { token } = await server().api.mintEnrollmentToken();
    const from = freshAddress();
    const before = await serverState();
    const names = [
      '../x',
      'x/../../etc',
      'root',
      'sshd',
      'borg-api',
      'nobody',
      'Web1',
      'wéb1',
      'web１',
      'a'.repeat(200),
      'web1;id',
      '$(id)',
      '`id`',
      'web1 x',
      'web1\n',
      '-web1',
      '',
    ];
    for (const hostname of names) {
      const response = await enroll(token, { hostname, publicKey: ed25519.publicKey }, from);
      expect(response.status, JSON.stringify(hostname)).toBe(400);
      expect(['INVALID_HOST_NAME', 'BAD_REQUEST'], JSON.stringify(hostname)).toContain(response.body.error);
    }
    expect(await serverState()).toBe(before);
    // Refusals do not spend the token: it still enrolls a proper name.
    expect((await enroll(token, { hostname: `fine-${randomBytes(2).toString('hex')}`, publicKey: ed25519.publicKey }, from)).status).toBe(
      202,
    );
    return `${names.length} names refused with 400; no account, directory, key file or enrollment appeared`;
  });

  attack(group, 'hostile keys: options, newline, two keys, certificate, DSA, RSA 2048, bad base64, trailing data', async () => {
    const { token } = await server().api.mintEnrollmentToken();
    const from = freshAddress();
    const before = await serverState();
    keys.generate('ca', 'ed25519');
    keys.generate('user', 'ed25519');
    const certificate = keys.certify('ca', 'user', 'web1');
    const rsa2048 = keys.generate('rsa2048', 'rsa2048');
    const blob = Buffer.from(ed25519.base64, 'base64');
    const hostile: [string, string][] = [
      ['command= option', `command="/bin/sh" ${ed25519.publicKey}`],
      ['restrict + command option', `restrict,command="sh -c id" ${ed25519.type} ${ed25519.base64}`],
      ['from= option', `from="*" ${ed25519.publicKey}`],
      ['embedded newline, second line', `${ed25519.publicKey}\n${other.publicKey}`],
      ['newline then options', `${ed25519.type} ${ed25519.base64} x\nrestrict,command="sh" ${other.type} ${other.base64}`],
      ['carriage return', `${ed25519.publicKey}\r${other.publicKey}`],
      ['two keys on one line', `${ed25519.publicKey} ${other.publicKey}`],
      ['certificate', certificate],
      ['RSA 2048', rsa2048.publicKey],
      ['bad base64', `${ed25519.type} AAAA!!!!`],
      ['trailing data in the blob', `${ed25519.type} ${Buffer.concat([blob, Buffer.from('trailing')]).toString('base64')}`],
      ['unknown type', `ssh-foo ${ed25519.base64}`],
      ['NUL byte', `${ed25519.publicKey}\u0000`],
    ];
    if (canGenerateDsa()) hostile.push(['DSA', keys.generate('dsa', 'dsa').publicKey]);
    for (const [label, publicKey] of hostile) {
      const response = await enroll(token, { hostname: `key-${randomBytes(3).toString('hex')}`, publicKey }, from);
      expect(response.status, label).toBe(400);
      expect(response.body.error, label).toBe('INVALID_PUBLIC_KEY');
    }
    const longKey = await enroll(token, { hostname: 'longkey', publicKey: `${ed25519.publicKey} ${'x'.repeat(20_000)}` }, from);
    expect(longKey.status).toBe(400);
    const huge = await enroll(token, undefined, from, JSON.stringify({ hostname: 'huge', publicKey: 'x'.repeat(2_000_000) }));
    expect([413, 0]).toContain(huge.status);
    expect(await serverState()).toBe(before);
    expect((await enroll(token, { hostname: `fine-${randomBytes(2).toString('hex')}`, publicKey: ed25519.publicKey }, from)).status).toBe(
      202,
    );
    return `${hostile.length} keys refused with 400 INVALID_PUBLIC_KEY, a 20 kB key 400, a 2 MB body ${huge.status || 'cut off'}; nothing recorded`;
  });

  attack(group, 'take over an existing host name with another key (manual and auto-approve tokens)', async () => {
    const owner = await createBorgClient('web1');
    clients.push(owner);
    const { repoUrl } = await enrollAndApprove(server().api, owner, 'web1');
    const keyFileBefore = await server().sandbox.readFile('/srv/state/ssh/authorized_keys/web1');
    const thief = await createBorgClient('thief');
    clients.push(thief);
    const plain = await server().api.mintEnrollmentToken();
    const automatic = await server().api.mintEnrollmentToken({ host: 'web1', autoApprove: true });
    const viaPlain = await enroll(plain.token, { hostname: 'web1', publicKey: thief.publicKey }, freshAddress());
    const viaAutomatic = await enroll(automatic.token, { hostname: 'web1', publicKey: thief.publicKey }, freshAddress());
    expect(viaPlain.status).toBe(202);
    expect(viaAutomatic.status).toBe(202);
    expect(viaAutomatic.body.status).toBe('pending');
    const pending = (await adminGet<{ enrollments: { id: string; conflict: boolean }[] }>('/v1/admin/enrollments?status=pending'))
      .enrollments;
    for (const id of [viaPlain.body.id, viaAutomatic.body.id])
      expect(pending.find((enrollment) => enrollment.id === id)?.conflict).toBe(true);
    const approval = await server().api.approve(viaPlain.body.id, thief.fingerprint);
    expect(approval.status).toBe(409);
    expect(approval.body.error).toBe('HOST_EXISTS');
    expect(await server().sandbox.readFile('/srv/state/ssh/authorized_keys/web1')).toBe(keyFileBefore);
    await thief.trustServer(server().sandbox.baseUrl);
    const thiefLogin = await thief.ssh({ user: 'web1', port: server().sandbox.sshPort });
    expect(thiefLogin.exitCode).toBe(255);
    expect(await owner.run(['init', '--encryption', 'none', repoUrl])).toMatchObject({ exitCode: 0 });
    return 'both enrollments pending with conflict: true; approval without replaceKey 409 HOST_EXISTS; key file unchanged; the owner still works';
  });

  attack(group, 'get an approval that names a stale fingerprint', async () => {
    const name = `stale-${randomBytes(2).toString('hex')}`;
    const first = await server().api.mintEnrollmentToken();
    const enrollment = await enroll(first.token, { hostname: name, publicKey: other.publicKey }, freshAddress());
    // The admin checked ed25519's fingerprint earlier (say, on a previous request), not this key's.
    const approval = await server().api.approve(enrollment.body.id, ed25519.fingerprint);
    expect(approval.status).toBe(409);
    expect(approval.body.error).toBe('FINGERPRINT_MISMATCH');
    const view = await httpRequest(server().sandbox.baseUrl, 'GET', `/v1/enrollments/${enrollment.body.id}`, { from: freshAddress() });
    expect(view.body.status).toBe('pending');
    expect(view.body).not.toHaveProperty('repoUrl');
    const keyFile = await server().sandbox.exec(['test', '-e', `/srv/state/ssh/authorized_keys/${name}`], { reject: false });
    expect(keyFile.exitCode).not.toBe(0);
    return `409 FINGERPRINT_MISMATCH; the enrollment stays pending and no key file exists for ${name}`;
  });
});
