import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  borgServeArguments,
  type KeyLineHost,
  maintainerKeyLineRenderer,
  renderAuthorizedKeysLine,
  repositoryPath,
} from '../../../src/domain/authorized-keys.js';
import { parseHostName } from '../../../src/domain/host-name.js';
import { parseAllowFrom } from '../../../src/domain/networks.js';
import { parseQuota } from '../../../src/domain/sizes.js';
import { parseSshPublicKey } from '../../../src/domain/ssh-public-key.js';
import { useSshKeys } from '../../support/fixture-hooks.js';

const keys = useSshKeys({ ed25519: 'ed25519', ecdsa: 'ecdsa256', rsa: 'rsa3072' });

function hostWith(changes: Partial<KeyLineHost> = {}): KeyLineHost {
  return {
    name: 'web1',
    keyType: 'ssh-ed25519',
    keyBase64: keys.ed25519.base64,
    appendOnly: true,
    quotaBytes: null,
    allowFrom: null,
    ...changes,
  };
}

describe('renderAuthorizedKeysLine', () => {
  it('renders an append-only line without quota or source restriction', () => {
    expect(renderAuthorizedKeysLine(hostWith(), '/backups')).toBe(
      `restrict,command="borg serve --restrict-to-repository /backups/web1/repo --append-only" ssh-ed25519 ${keys.ed25519.base64} web1\n`,
    );
  });

  it('renders the quota and the source restriction', () => {
    const line = renderAuthorizedKeysLine(hostWith({ quotaBytes: 500e9, allowFrom: '192.0.2.0/24,2001:db8::/32' }), '/backups');
    expect(line).toBe(
      'restrict,command="borg serve --restrict-to-repository /backups/web1/repo --append-only --storage-quota 500000000000",' +
        `from="192.0.2.0/24,2001:db8::/32" ssh-ed25519 ${keys.ed25519.base64} web1\n`,
    );
  });

  it('leaves --append-only out when the host has full access', () => {
    expect(renderAuthorizedKeysLine(hostWith({ appendOnly: false }), '/srv/backups')).toBe(
      `restrict,command="borg serve --restrict-to-repository /srv/backups/web1/repo" ssh-ed25519 ${keys.ed25519.base64} web1\n`,
    );
  });

  it('replaces the key comment with the host name', () => {
    const line = renderAuthorizedKeysLine(hostWith({ keyType: 'ecdsa-sha2-nistp256', keyBase64: keys.ecdsa.base64 }), '/backups');
    expect(line.endsWith(` ecdsa-sha2-nistp256 ${keys.ecdsa.base64} web1\n`)).toBe(true);
    expect(line).not.toContain('test-ecdsa');
  });

  it('refuses a reserved host name', () => {
    expect(() => renderAuthorizedKeysLine(hostWith({ name: 'root' }), '/backups')).toThrow();
  });

  it('refuses a host name with a path in it', () => {
    expect(() => renderAuthorizedKeysLine(hostWith({ name: '../x' }), '/backups')).toThrow();
  });

  it('refuses a backup directory with a quote in it', () => {
    expect(() => renderAuthorizedKeysLine(hostWith(), '/backups" /bin/sh')).toThrow();
  });

  it('refuses a backup directory that climbs out with ..', () => {
    expect(() => renderAuthorizedKeysLine(hostWith(), '/backups/../etc')).toThrow();
  });

  it('refuses a relative backup directory', () => {
    expect(() => renderAuthorizedKeysLine(hostWith(), 'backups')).toThrow();
  });

  it('refuses a key type that differs from the blob', () => {
    expect(() => renderAuthorizedKeysLine(hostWith({ keyType: 'ssh-rsa' }), '/backups')).toThrow();
  });

  it('refuses a key blob carrying a second line', () => {
    expect(() =>
      renderAuthorizedKeysLine(hostWith({ keyBase64: `${keys.ed25519.base64}\ncommand="sh" ${keys.ecdsa.base64}` }), '/backups'),
    ).toThrow();
  });

  it('refuses an allowFrom that is not an address list', () => {
    expect(() => renderAuthorizedKeysLine(hostWith({ allowFrom: '*",command="/bin/sh' }), '/backups')).toThrow();
  });
});

describe('borgServeArguments', () => {
  it('restricts borg serve to the host repository, append-only, with the quota', () => {
    expect(borgServeArguments(hostWith({ quotaBytes: 10e6 }), '/backups')).toEqual([
      'borg',
      'serve',
      '--restrict-to-repository',
      '/backups/web1/repo',
      '--append-only',
      '--storage-quota',
      '10000000',
    ]);
  });
});

describe('repositoryPath', () => {
  it('is the repo folder in the host directory', () => {
    expect(repositoryPath('/backups', 'web1')).toBe('/backups/web1/repo');
  });
});

describe('key lines for arbitrary input', () => {
  const LINE_PATTERN =
    /^restrict,command="borg serve --restrict-to-repository \/backups\/([a-z][a-z0-9-]{0,30})\/repo( --append-only)?( --storage-quota [1-9][0-9]*)?"(,from="[0-9a-f.:/,]+")? (ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) ([A-Za-z0-9+/]+={0,2}) ([a-z][a-z0-9-]{0,30})\n$/;

  it('never yield a second line, extra options or a path outside /backups/NAME/', () => {
    const keyLine = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.constantFrom(keys.ed25519.publicKey, keys.ecdsa.publicKey, keys.rsa.publicKey),
      fc
        .tuple(
          fc.string(),
          fc.constantFrom(keys.ed25519.publicKey, keys.ecdsa.publicKey, keys.rsa.publicKey),
          fc.string({ unit: 'binary' }),
        )
        .map(([before, line, after]) => `${before}${line}${after}`),
    );
    const hostName = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/),
      fc.constantFrom('../x', 'web1/../../etc', 'web1"'),
    );
    const allowFrom = fc.option(fc.oneof(fc.string(), fc.constantFrom('192.0.2.0/24', '2001:db8::/32', '10.0.0.1,10.0.0.2')), {
      nil: undefined,
    });
    const quota = fc.option(fc.oneof(fc.string(), fc.constantFrom('500G', '10M'), fc.integer()), { nil: undefined });

    fc.assert(
      fc.property(keyLine, hostName, allowFrom, quota, fc.boolean(), (publicKey, name, from, quotaInput, appendOnly) => {
        let host: KeyLineHost;
        try {
          const key = parseSshPublicKey(publicKey);
          host = {
            name: parseHostName(name),
            keyType: key.type,
            keyBase64: key.base64,
            appendOnly,
            quotaBytes: quotaInput === undefined ? null : parseQuota(quotaInput),
            allowFrom: from === undefined ? null : parseAllowFrom(from),
          };
        } catch {
          return;
        }
        const line = renderAuthorizedKeysLine(host, '/backups');
        const match = LINE_PATTERN.exec(line);
        expect(match).not.toBeNull();
        expect(match?.[1]).toBe(name);
        expect(match?.[7]).toBe(name);
        expect(line.indexOf('\n')).toBe(line.length - 1);
        expect(line.split('"')).toHaveLength(host.allowFrom === null ? 3 : 5);
      }),
      { numRuns: 3000 },
    );
  });

  it('never yield a line outside the pattern when handed unvalidated fields', () => {
    const validKey = fc.constantFrom(keys.ed25519, keys.ecdsa, keys.rsa);
    const host = fc.record({
      name: fc.oneof(
        fc.string({ unit: 'binary' }),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/),
        fc.constantFrom('../x', 'web1"', 'web1\n'),
      ),
      key: fc.oneof(
        validKey.map((key) => ({ keyType: key.type, keyBase64: key.base64 })),
        fc.record({ keyType: fc.string(), keyBase64: fc.string({ unit: 'binary' }) }),
        fc
          .tuple(validKey, fc.string({ unit: 'binary' }))
          .map(([key, extra]) => ({ keyType: key.type, keyBase64: `${key.base64}${extra}` })),
      ),
      appendOnly: fc.boolean(),
      quotaBytes: fc.option(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(500e9, 10e6)), { nil: null }),
      allowFrom: fc.option(fc.oneof(fc.string(), fc.constantFrom('192.0.2.0/24', '192.0.2.1",command="sh')), { nil: null }),
    });
    fc.assert(
      fc.property(host, ({ key, ...rest }) => {
        let line: string;
        try {
          line = renderAuthorizedKeysLine({ ...rest, ...key } as KeyLineHost, '/backups');
        } catch {
          return;
        }
        const match = LINE_PATTERN.exec(line);
        expect(match).not.toBeNull();
        expect(match?.[1]).toBe(rest.name);
        expect(match?.[7]).toBe(rest.name);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('maintainerKeyLineRenderer', () => {
  const maintainer = () => ({ name: 'trusted', keyType: 'ssh-ed25519' as const, keyBase64: keys.ecdsa.base64, allowFrom: '192.0.2.0/24' });

  it("renders full access to the host's repository alone, with the host's quota, only from the maintainer's range", () => {
    const render = maintainerKeyLineRenderer({ ...maintainer(), keyType: keys.ecdsa.type as never });
    expect(render(hostWith({ quotaBytes: 2_000_000_000, allowFrom: '10.0.0.0/8' }), '/backups')).toBe(
      `restrict,command="borg serve --restrict-to-repository /backups/web1/repo --storage-quota 2000000000",environment="BORG_SERVER_KEY=maintainer:trusted",from="192.0.2.0/24" ${keys.ecdsa.type} ${keys.ecdsa.base64} maintainer:trusted\n`,
    );
  });

  it('refuses a maintainer without a range, with a bad range or name, and a bad host', () => {
    const valid = { ...maintainer(), keyType: keys.ecdsa.type as never };
    expect(() => maintainerKeyLineRenderer({ ...valid, allowFrom: '' })).toThrow(/from=/);
    expect(() => maintainerKeyLineRenderer({ ...valid, allowFrom: '1.2.3.4",command="sh' })).toThrow();
    expect(() => maintainerKeyLineRenderer({ ...valid, name: 'a"b' })).toThrow();
    expect(() => maintainerKeyLineRenderer(valid)(hostWith({ name: 'web 1' }), '/backups')).toThrow();
  });
});
