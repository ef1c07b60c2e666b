import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, statePaths } from '../../../../src/config.js';
import type { AppError } from '../../../../src/errors.js';
import { publicKeyPin } from '../../../../src/identity/public-key-pin.js';
import { readTlsIdentity } from '../../../../src/identity/tls-identity.js';
import { prepareTlsFiles } from '../../../../src/root/tls/tls-files.js';
import { createTestAuthority, createTestCertificate, DAYS_MS } from '../../../support/tls-certificates.js';

const NOW = new Date();
const logger = pino({ level: 'silent' });
const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-tls-files-test-'));
  // `borgctl serve` makes the database directory before it prepares TLS files.
  mkdirSync(join(directory, 'state', 'db'), { recursive: true });
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

function configFor(publicUrl: string, given: { certificate?: string; key?: string } = {}) {
  return loadConfig({
    BORG_SERVER_STATE_DIR: join(directory, 'state'),
    BORG_SERVER_PUBLIC_URL: publicUrl,
    ...(given.certificate ? { BORG_SERVER_TLS_CERT: given.certificate, BORG_SERVER_TLS_KEY: given.key } : {}),
  });
}

function servedCertificate(): string {
  return readFileSync(statePaths(join(directory, 'state')).tlsCertificate, 'utf8');
}

async function writeGivenPair(name: string, options: Parameters<typeof createTestCertificate>[0]) {
  const pair = await createTestCertificate(options);
  const certificate = join(directory, `${name}.crt`);
  const key = join(directory, `${name}.key`);
  writeFileSync(certificate, pair.certificatePem);
  writeFileSync(key, pair.keyPem);
  return { certificate, key, pair };
}

describe('prepareTlsFiles', () => {
  it('generates a self-signed pair for the public URL’s host, its key readable by root and the API group only', async () => {
    const config = configFor('https://backup.example.test:8443');
    await prepareTlsFiles(config, owner, NOW, logger);
    const paths = statePaths(config.stateDir);
    expect(statSync(paths.tlsDir).mode & 0o777).toBe(0o750);
    expect(statSync(paths.tlsCertificate).mode & 0o777).toBe(0o644);
    expect(statSync(paths.tlsKey).mode & 0o777).toBe(0o640);
    expect(readTlsIdentity(config)).toEqual({ pin: publicKeyPin(servedCertificate()), isSelfSigned: true });
  });

  it('keeps the generated pair across restarts, so the pin in tokens stays valid', async () => {
    const config = configFor('https://backup.example.test:8443');
    await prepareTlsFiles(config, owner, NOW, logger);
    const first = servedCertificate();
    await prepareTlsFiles(config, owner, NOW, logger);
    expect(servedCertificate()).toBe(first);
  });

  it('generates a new pair when the kept one is not for the public URL’s host any more', async () => {
    await prepareTlsFiles(configFor('https://old.example.test'), owner, NOW, logger);
    const first = servedCertificate();
    await prepareTlsFiles(configFor('https://new.example.test'), owner, NOW, logger);
    expect(publicKeyPin(servedCertificate())).not.toBe(publicKeyPin(first));
  });

  it('serves a given pair instead, and reports its pin; a CA-issued certificate is not self-signed', async () => {
    const authority = await createTestAuthority();
    const given = await writeGivenPair('given', { hostName: 'backup.example.test', issuer: authority });
    const config = configFor('https://backup.example.test', given);
    await prepareTlsFiles(config, owner, NOW, logger);
    expect(servedCertificate()).toBe(given.pair.certificatePem);
    expect(readTlsIdentity(config)).toEqual({ pin: publicKeyPin(given.pair.certificatePem), isSelfSigned: false });
  });

  it('tells a given self-signed certificate from a CA-issued one by the certificate itself', async () => {
    const given = await writeGivenPair('given', { hostName: 'backup.example.test' });
    await prepareTlsFiles(configFor('https://backup.example.test', given), owner, NOW, logger);
    // The API process reads the identity without BORG_SERVER_TLS_CERT in its environment.
    expect(readTlsIdentity(configFor('https://backup.example.test'))).toEqual({
      pin: publicKeyPin(given.pair.certificatePem),
      isSelfSigned: true,
    });
  });

  it('reports a CA-issued certificate as not self-signed to a process without BORG_SERVER_TLS_CERT', async () => {
    const given = await writeGivenPair('given', { hostName: 'backup.example.test', issuer: await createTestAuthority() });
    await prepareTlsFiles(configFor('https://backup.example.test', given), owner, NOW, logger);
    expect(readTlsIdentity(configFor('https://backup.example.test'))?.isSelfSigned).toBe(false);
  });

  it('refuses an expired given pair and leaves the served one alone', async () => {
    const good = await writeGivenPair('good', { hostName: 'backup.example.test' });
    await prepareTlsFiles(configFor('https://backup.example.test', good), owner, NOW, logger);
    const expired = await writeGivenPair('expired', {
      hostName: 'backup.example.test',
      notBefore: new Date(NOW.getTime() - 90 * DAYS_MS),
      notAfter: new Date(NOW.getTime() - DAYS_MS),
    });
    const refusal = await prepareTlsFiles(configFor('https://backup.example.test', expired), owner, NOW, logger).catch(
      (error: AppError) => error,
    );
    expect(refusal).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/expired/) });
    expect(servedCertificate()).toBe(good.pair.certificatePem);
  });
});

describe.runIf(process.getuid?.() === 0)('prepareTlsFiles as root', () => {
  const apiGroup = { gid: 29_999 };

  it("keeps the pair in root's tls/ directory, which the API user can read by its group and cannot write", async () => {
    const config = configFor('https://backup.example.test');
    await prepareTlsFiles(config, apiGroup, NOW, logger);
    const paths = statePaths(config.stateDir);
    expect(paths.tlsDir).toBe(join(directory, 'state', 'tls'));
    expect(lstatSync(paths.tlsDir)).toMatchObject({ uid: 0, gid: apiGroup.gid });
    expect(lstatSync(paths.tlsDir).mode & 0o7777).toBe(0o750);
    expect(lstatSync(paths.tlsKey)).toMatchObject({ uid: 0, gid: apiGroup.gid });
    expect(lstatSync(paths.tlsKey).mode & 0o7777).toBe(0o640);
  });

  it('refuses a tls/ that is a symlink, and leaves its target alone', async () => {
    const rootDirectory = join(directory, 'root-directory');
    mkdirSync(rootDirectory, { mode: 0o755 });
    symlinkSync(rootDirectory, join(directory, 'state', 'tls'));
    await expect(prepareTlsFiles(configFor('https://backup.example.test'), apiGroup, NOW, logger)).rejects.toThrow();
    expect(statSync(rootDirectory).mode & 0o7777).toBe(0o755);
  });
});

describe('readTlsIdentity', () => {
  it('is null for a plain HTTP public URL', async () => {
    expect(readTlsIdentity(configFor('http://backup.example.test'))).toBeNull();
  });

  it('is null before a certificate was prepared', async () => {
    expect(readTlsIdentity(configFor('https://backup.example.test'))).toBeNull();
  });
});
