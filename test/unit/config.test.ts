import { describe, expect, it } from 'vitest';
import { loadConfig, statePaths } from '../../src/config.js';
import { codeOf } from '../support/error-codes.js';

describe('loadConfig', () => {
  it('has a default for everything', () => {
    expect(loadConfig({})).toMatchObject({
      stateDir: '/var/lib/secure-borg-server',
      backupDir: '/backups',
      sshPort: 22,
      httpHost: '0.0.0.0',
      httpPort: 8080,
      publicUrl: 'http://localhost:8080',
      sshHost: 'localhost',
      sshPublicPort: 22,
      sshPerSourceMaxStartups: 10,
      apiUser: 'borg-api',
      importUsersDir: undefined,
      isHttps: false,
      tlsCertificatePath: undefined,
      tlsKeyPath: undefined,
      logLevel: 'info',
      rootStallSeconds: 60,
      stateBackupIntervalSeconds: 86_400,
      stateBackupKeep: 7,
      outgoingAllow: null,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      BORG_SERVER_STATE_DIR: '/srv/state',
      BORG_SERVER_BACKUP_DIR: '/srv/backups',
      BORG_SERVER_SSH_PORT: '2222',
      BORG_SERVER_HTTP_HOST: '127.0.0.1',
      BORG_SERVER_HTTP_PORT: '9000',
      BORG_SERVER_PUBLIC_URL: 'https://backup.example.test/',
      BORG_SERVER_SSH_HOST: 'ssh.example.test',
      BORG_SERVER_SSH_PUBLIC_PORT: '22022',
      BORG_SERVER_SSH_PER_SOURCE_MAX_STARTUPS: '50',
      BORG_SERVER_API_USER: 'api',
      BORG_SERVER_IMPORT_USERS_DIR: '/import',
      BORG_SERVER_LOG_LEVEL: 'debug',
      BORG_SERVER_ROOT_STALL_SECONDS: '10',
    });
    expect(config).toMatchObject({
      stateDir: '/srv/state',
      backupDir: '/srv/backups',
      sshPort: 2222,
      httpHost: '127.0.0.1',
      httpPort: 9000,
      publicUrl: 'https://backup.example.test',
      sshHost: 'ssh.example.test',
      sshPublicPort: 22022,
      sshPerSourceMaxStartups: 50,
      apiUser: 'api',
      importUsersDir: '/import',
      isHttps: true,
      logLevel: 'debug',
      rootStallSeconds: 10,
    });
  });

  it('reads a TLS certificate and key given together with an https URL', () => {
    const config = loadConfig({
      BORG_SERVER_PUBLIC_URL: 'https://backup.example.test',
      BORG_SERVER_TLS_CERT: '/tls/cert.pem',
      BORG_SERVER_TLS_KEY: '/tls/key.pem',
    });
    expect(config).toMatchObject({ isHttps: true, tlsCertificatePath: '/tls/cert.pem', tlsKeyPath: '/tls/key.pem' });
  });

  it('takes the SSH host from the public URL when none is given', () => {
    expect(loadConfig({ BORG_SERVER_PUBLIC_URL: 'https://backup.example.test:8443' }).sshHost).toBe('backup.example.test');
  });

  it('takes the published SSH port from the SSH port when none is given', () => {
    expect(loadConfig({ BORG_SERVER_SSH_PORT: '2222' }).sshPublicPort).toBe(2222);
  });

  it('reads the interval and count of the server state copies, and "off"', () => {
    expect(loadConfig({ BORG_SERVER_STATE_BACKUP_INTERVAL: '12h', BORG_SERVER_STATE_BACKUP_KEEP: '30' })).toMatchObject({
      stateBackupIntervalSeconds: 43_200,
      stateBackupKeep: 30,
    });
    expect(loadConfig({ BORG_SERVER_STATE_BACKUP_INTERVAL: 'off' }).stateBackupIntervalSeconds).toBeNull();
  });

  it('reads the ranges outgoing URLs may reach besides public addresses, canonically', () => {
    expect(loadConfig({ BORG_SERVER_OUTGOING_ALLOW: '192.168.10.7/24, fd00::/8,10.0.0.5' }).outgoingAllow).toBe(
      '192.168.10.0/24,fd00::/8,10.0.0.5',
    );
    expect(loadConfig({ BORG_SERVER_OUTGOING_ALLOW: ' ' }).outgoingAllow).toBeNull();
  });

  it('drops trailing slashes from the public URL', () => {
    expect(loadConfig({ BORG_SERVER_PUBLIC_URL: 'http://backup.example.test:8080///' }).publicUrl).toBe('http://backup.example.test:8080');
  });

  it.each([
    ['a relative state directory', { BORG_SERVER_STATE_DIR: 'state' }],
    ['a relative backup directory', { BORG_SERVER_BACKUP_DIR: 'backups' }],
    ['port zero', { BORG_SERVER_SSH_PORT: '0' }],
    ['a port beyond 65535', { BORG_SERVER_HTTP_PORT: '65536' }],
    ['no unauthenticated SSH connection per address', { BORG_SERVER_SSH_PER_SOURCE_MAX_STARTUPS: '0' }],
    ['a port that is not a number', { BORG_SERVER_HTTP_PORT: 'http' }],
    ['a public URL that is not http', { BORG_SERVER_PUBLIC_URL: 'ftp://backup.example.test' }],
    ['a public URL that is not a URL', { BORG_SERVER_PUBLIC_URL: 'backup.example.test' }],
    ['an unknown log level', { BORG_SERVER_LOG_LEVEL: 'verbose' }],
    ['a root stall bound shorter than root reports', { BORG_SERVER_ROOT_STALL_SECONDS: '4' }],
    ['a root stall bound that is not whole seconds', { BORG_SERVER_ROOT_STALL_SECONDS: '7.5' }],
    ['a state copy interval that is not a duration', { BORG_SERVER_STATE_BACKUP_INTERVAL: 'often' }],
    ['a state copy interval longer than a timer holds', { BORG_SERVER_STATE_BACKUP_INTERVAL: '25d' }],
    ['keeping no state copy', { BORG_SERVER_STATE_BACKUP_KEEP: '0' }],
    ['an outgoing allow list that is not CIDR ranges', { BORG_SERVER_OUTGOING_ALLOW: '192.168.0.0/16,intranet' }],
    ['a TLS certificate without its key', { BORG_SERVER_PUBLIC_URL: 'https://b.example.test', BORG_SERVER_TLS_CERT: '/tls/cert.pem' }],
    ['a TLS key without its certificate', { BORG_SERVER_PUBLIC_URL: 'https://b.example.test', BORG_SERVER_TLS_KEY: '/tls/key.pem' }],
    [
      'a TLS certificate with an http URL',
      { BORG_SERVER_PUBLIC_URL: 'http://b.example.test', BORG_SERVER_TLS_CERT: '/tls/cert.pem', BORG_SERVER_TLS_KEY: '/tls/key.pem' },
    ],
  ])('refuses %s', (_label, environment) => {
    expect(codeOf(() => loadConfig(environment))).toBe('CONFIG_INVALID');
  });
});

describe('statePaths', () => {
  it("puts the database, signing key, ssh files, root's sockets and run files under the state directory", () => {
    expect(statePaths('/srv/state')).toMatchObject({
      databaseDir: '/srv/state/db',
      database: '/srv/state/db/borg.db',
      signingKeyDir: '/srv/state/db/signing',
      sshDir: '/srv/state/ssh',
      sshdConfig: '/srv/state/ssh/sshd_config',
      authorizedKeysDir: '/srv/state/ssh/authorized_keys',
      runDir: '/srv/state/run',
      controlSocket: '/srv/state/run/cli/control.sock',
      apiSocket: '/srv/state/run/api/api.sock',
      livenessFile: '/srv/state/run/liveness.json',
    });
  });
});
