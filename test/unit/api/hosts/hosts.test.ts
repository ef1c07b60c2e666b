import { describe, expect, it } from 'vitest';
import { createOrRekeyHost, deleteHost, getHost, listHostPage, repositoryUrl, updateHost } from '../../../../src/api/hosts/hosts.js';
import { loadConfig } from '../../../../src/config.js';
import { auditLog } from '../../../../src/db/schema.js';
import { findHost } from '../../../../src/host-records/hosts-store.js';
import { codeOfAsync } from '../../../support/error-codes.js';
import { useSshKeys, useTestContext } from '../../../support/fixture-hooks.js';
import { makeTestContext, TEST_ENVIRONMENT } from '../../../support/test-context.js';

const ADMIN = { actor: 'admin:test' };
const keys = useSshKeys({ first: 'ed25519', second: 'ed25519' });
const test = useTestContext();

describe('repositoryUrl', () => {
  it('points at the repo in the host home on the published SSH port', () => {
    expect(repositoryUrl(test.context, 'web1')).toBe('ssh://web1@backup.example.test:2022/./repo');
  });

  it('puts an IPv6 SSH host in brackets', async () => {
    const { context } = await makeTestContext({ config: loadConfig({ ...TEST_ENVIRONMENT, BORG_SERVER_SSH_HOST: '2001:db8::1' }) });
    expect(repositoryUrl(context, 'web1')).toBe('ssh://web1@[2001:db8::1]:2022/./repo');
  });
});

describe('createOrRekeyHost', () => {
  it('creates an append-only host and asks for a reconcile', async () => {
    const { host, previous } = await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    expect(host).toMatchObject({
      name: 'web1',
      fingerprint: keys.first.fingerprint,
      appendOnly: true,
      origin: 'createuser',
      repository: '/backups/web1/repo',
    });
    expect(previous).toBeNull();
    expect(test.reconcileCalls).toHaveLength(1);
  });

  it('gives an existing host a new key and keeps its UID and policy', async () => {
    const { host: created } = await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await updateHost(test.context, 'web1', { quota: '500G', appendOnly: false }, ADMIN);
    const rekeyed = await createOrRekeyHost(test.context, 'web1', keys.second.publicKey, ADMIN);
    expect(rekeyed.host).toMatchObject({ uid: created.uid, fingerprint: keys.second.fingerprint, quotaBytes: 500e9, appendOnly: false });
    expect(rekeyed.previous).toEqual({ fingerprint: keys.first.fingerprint, status: 'active' });
  });

  it('refuses an invalid name', async () => {
    expect(await codeOfAsync(() => createOrRekeyHost(test.context, '../x', keys.first.publicKey, ADMIN))).toBe('INVALID_HOST_NAME');
  });

  it('refuses an invalid key', async () => {
    expect(await codeOfAsync(() => createOrRekeyHost(test.context, 'web1', `command="sh" ${keys.first.publicKey}`, ADMIN))).toBe(
      'INVALID_PUBLIC_KEY',
    );
  });
});

describe('updateHost', () => {
  it('changes the quota, append-only mode and source range', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    const updated = await updateHost(test.context, 'web1', { quota: '1T', appendOnly: false, allowFrom: '192.0.2.9/24' }, ADMIN);
    expect(updated).toMatchObject({ quotaBytes: 1e12, appendOnly: false, allowFrom: '192.0.2.0/24' });
  });

  it('clears the quota and source range with null', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await updateHost(test.context, 'web1', { quota: '1T', allowFrom: '192.0.2.0/24' }, ADMIN);
    expect(await updateHost(test.context, 'web1', { quota: null, allowFrom: null }, ADMIN)).toMatchObject({
      quotaBytes: null,
      allowFrom: null,
    });
  });

  it('gives a new host a cap of 2 sessions, and changes it', async () => {
    expect((await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN)).host.maxSessions).toBe(2);
    expect((await updateHost(test.context, 'web1', { maxSessions: '4' }, ADMIN)).maxSessions).toBe(4);
    expect(await codeOfAsync(() => updateHost(test.context, 'web1', { maxSessions: 0 }, ADMIN))).toBe('BAD_REQUEST');
    expect(getHost(test.context, 'web1').maxSessions).toBe(4);
  });

  it('disables and enables a host', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    expect((await updateHost(test.context, 'web1', { disabled: true }, ADMIN)).status).toBe('disabled');
    expect((await updateHost(test.context, 'web1', { disabled: false }, ADMIN)).status).toBe('active');
  });

  it('refuses an unknown host', async () => {
    expect(await codeOfAsync(() => updateHost(test.context, 'web1', { disabled: true }, ADMIN))).toBe('NOT_FOUND');
  });

  it('refuses an invalid quota without changing anything', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    expect(await codeOfAsync(() => updateHost(test.context, 'web1', { quota: '1K', disabled: true }, ADMIN))).toBe('INVALID_QUOTA');
    expect(getHost(test.context, 'web1')).toMatchObject({ status: 'active', quotaBytes: null });
  });
});

describe('deleteHost', () => {
  it('marks the host deleted, keeps its row and UID, and asks for a reconcile', async () => {
    const { host: created } = await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await deleteHost(test.context, 'web1', { purge: false }, ADMIN);
    expect(findHost(test.context.db, 'web1')).toMatchObject({ status: 'deleted', uid: created.uid });
    expect(listHostPage(test.context, { limit: 10 }).hosts).toEqual([]);
    expect(listHostPage(test.context, { limit: 10, includeDeleted: true }).hosts).toMatchObject([{ name: 'web1', status: 'deleted' }]);
    expect(test.reconcileCalls).toHaveLength(2);
  });

  it('marks a purged host for purging', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await deleteHost(test.context, 'web1', { purge: true }, ADMIN);
    expect(findHost(test.context.db, 'web1')?.status).toBe('purging');
  });

  it('purges a host that was deleted before', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await deleteHost(test.context, 'web1', { purge: false }, ADMIN);
    await deleteHost(test.context, 'web1', { purge: true }, ADMIN);
    expect(findHost(test.context.db, 'web1')?.status).toBe('purging');
  });

  it('refuses to delete a deleted host again', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await deleteHost(test.context, 'web1', { purge: false }, ADMIN);
    expect(await codeOfAsync(() => deleteHost(test.context, 'web1', { purge: false }, ADMIN))).toBe('NOT_FOUND');
  });

  it('gives a re-created host its old UID', async () => {
    const { host: created } = await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await deleteHost(test.context, 'web1', { purge: false }, ADMIN);
    expect((await createOrRekeyHost(test.context, 'web1', keys.second.publicKey, ADMIN)).host.uid).toBe(created.uid);
  });

  it('audits the deletion', async () => {
    await createOrRekeyHost(test.context, 'web1', keys.first.publicKey, ADMIN);
    await deleteHost(test.context, 'web1', { purge: true }, ADMIN);
    expect(test.context.db.select().from(auditLog).all().at(-1)).toMatchObject({
      action: 'host.purge',
      target: 'web1',
      actor: 'admin:test',
    });
  });
});
