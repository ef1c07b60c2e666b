import { describe, expect, it } from 'vitest';
import {
  type AccountFiles,
  findConflicts,
  HOST_ACCOUNT_MARKER,
  type HostAccount,
  renderAccountFiles,
  renderChangedAccount,
} from '../../../../src/root/accounts/account-files.js';

const SYSTEM: AccountFiles = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n',
  group: 'root:x:0:\n',
  shadow: 'root:*:19000:0:99999:7:::\n',
};
const account = (name: string, uid: number): HostAccount => ({ name, uid, home: `/backups/${name}` });
const ACCOUNTS = [account('web', 20002), account('db', 20001), account('mail', 20003)];

describe('renderAccountFiles', () => {
  it('keeps the system lines and writes the host accounts as a block sorted by UID', () => {
    const next = renderAccountFiles(SYSTEM, ACCOUNTS);
    expect(next.passwd).toBe(
      `${SYSTEM.passwd}db:x:20001:20001:${HOST_ACCOUNT_MARKER}:/backups/db:/bin/sh\n` +
        `web:x:20002:20002:${HOST_ACCOUNT_MARKER}:/backups/web:/bin/sh\n` +
        `mail:x:20003:20003:${HOST_ACCOUNT_MARKER}:/backups/mail:/bin/sh\n`,
    );
    expect(next.group).toBe('root:x:0:\ndb:x:20001:\nweb:x:20002:\nmail:x:20003:\nborg-hosts:x:19999:db,web,mail\n');
    expect(next.shadow).toBe(`${SYSTEM.shadow}db:*:19000:0:99999:7:::\nweb:*:19000:0:99999:7:::\nmail:*:19000:0:99999:7:::\n`);
  });

  it('renders what it rendered before the same way, and a changed account with its new values (a pass after another)', () => {
    const first = renderAccountFiles(SYSTEM, ACCOUNTS);
    // Rendered again from its own output, with one host moved, one gone and one new: each line from the values now.
    const moved = [account('web', 20005), { ...account('db', 20001), home: '/elsewhere/db' }, account('new', 20004)];
    const second = renderAccountFiles(first, moved);
    const fresh = renderAccountFiles(SYSTEM, moved);
    expect(second).toEqual(fresh);
    expect(second.passwd).toContain(`db:x:20001:20001:${HOST_ACCOUNT_MARKER}:/elsewhere/db:/bin/sh\n`);
    expect(second.passwd).toContain(`web:x:20005:20005:`);
    expect(second.passwd).not.toContain('mail');
    expect(renderAccountFiles(second, ACCOUNTS)).toEqual(first);
  });

  it('keeps a system line added by hand to what it rendered, and drops a host line added by hand', () => {
    const rendered = renderAccountFiles(SYSTEM, ACCOUNTS);
    const edited = {
      ...rendered,
      passwd: `${rendered.passwd}alice:x:1000:1000::/home/alice:/bin/bash\nstray:x:20009:20009:${HOST_ACCOUNT_MARKER}:/x:/bin/sh\n`,
    };
    const next = renderAccountFiles(edited, ACCOUNTS);
    expect(next.passwd).toContain('alice:x:1000:1000::/home/alice:/bin/bash\n');
    expect(next.passwd).not.toContain('stray');
  });
});

describe('findConflicts', () => {
  it('finds a system account or group with a host name or UID', () => {
    const files = {
      passwd: `${SYSTEM.passwd}web:x:1000:1000::/home/web:/bin/sh\nbob:x:20003:20003::/home/bob:/bin/sh\n`,
      group: `${SYSTEM.group}db:x:1001:\n`,
      shadow: SYSTEM.shadow,
    };
    expect(findConflicts(files, ACCOUNTS)).toEqual([
      { name: 'web', reason: 'a system account has this name' },
      { name: 'db', reason: 'a system group has this name or ID' },
      { name: 'mail', reason: 'a system account has UID 20003' },
    ]);
  });

  it('sees a hand edit of the system lines of a file it rendered (its own host lines are no conflict)', () => {
    const rendered = renderAccountFiles(SYSTEM, ACCOUNTS);
    expect(findConflicts(rendered, ACCOUNTS)).toEqual([]);
    const withUser = { ...rendered, passwd: `${rendered.passwd}mail:x:1002:1002::/home/mail:/bin/sh\n` };
    expect(findConflicts(withUser, ACCOUNTS)).toEqual([{ name: 'mail', reason: 'a system account has this name' }]);
    const withGroup = { ...rendered, group: rendered.group.replace('root:x:0:\n', 'root:x:0:\nadm:x:20002:\n') };
    expect(findConflicts(withGroup, ACCOUNTS)).toEqual([{ name: 'web', reason: 'a system group has this name or ID' }]);
    // Back to what it rendered: no conflict again.
    expect(findConflicts(rendered, ACCOUNTS)).toEqual([]);
  });

  it('sees a system account among the host lines of a file it rendered when it loses the marker', () => {
    const rendered = renderAccountFiles(SYSTEM, ACCOUNTS);
    const unmarked = { ...rendered, passwd: rendered.passwd.replace(`web:x:20002:20002:${HOST_ACCOUNT_MARKER}`, 'web:x:20002:20002:') };
    expect(findConflicts(unmarked, ACCOUNTS)).toEqual([{ name: 'web', reason: 'a system account has this name' }]);
  });
});

describe('renderChangedAccount', () => {
  const byUid = (accounts: HostAccount[]) => [...accounts].sort((a, b) => a.uid - b.uid);

  it('gives what a whole render gives, for each account added (first, between, last) or removed, down to none and back', () => {
    let accounts = byUid([account('db', 20010), account('web', 20020), account('mail', 20030)]);
    let files = renderAccountFiles(SYSTEM, accounts);
    const steps: { add?: HostAccount; remove?: string }[] = [
      { add: account('first', 20001) },
      { add: account('between', 20015) },
      { add: account('last', 20040) },
      { remove: 'web' },
      { remove: 'last' },
      { remove: 'first' },
      { remove: 'db' },
      { remove: 'between' },
      { remove: 'mail' },
      { add: account('alone', 20050) },
      { add: account('before', 20005) },
    ];
    for (const step of steps) {
      const before = step.remove === undefined ? null : (accounts.find((known) => known.name === step.remove) ?? null);
      accounts = byUid(step.add ? [...accounts, step.add] : accounts.filter((known) => known.name !== step.remove));
      const changed = renderChangedAccount(files, accounts, before, step.add ?? null);
      // A whole render of the same accounts from the texts as the system has them (the server's lines are replaced).
      expect(changed).toEqual(renderAccountFiles(SYSTEM, accounts));
      files = changed;
    }
    expect(files.group).toBe('root:x:0:\nbefore:x:20005:\nalone:x:20050:\nborg-hosts:x:19999:before,alone\n');
  });

  it('gives the same texts for an account that did not change, and renders whole texts it did not render', () => {
    const accounts = byUid([account('db', 20010), account('web', 20020)]);
    const files = renderAccountFiles(SYSTEM, accounts);
    expect(renderChangedAccount(files, accounts, account('db', 20010), account('db', 20010))).toEqual(files);
    // Edited by hand since: a whole render, which keeps the edit.
    const edited = { ...files, passwd: `${files.passwd}admin:x:1000:1000::/home/admin:/bin/bash\n` };
    const added = byUid([...accounts, account('mail', 20015)]);
    expect(renderChangedAccount(edited, added, null, account('mail', 20015))).toEqual(renderAccountFiles(edited, added));
  });
});
