import { describe, expect, it } from 'vitest';
import {
  type AccountFiles,
  findConflicts,
  HOST_ACCOUNT_MARKER,
  type HostAccount,
  renderAccountFiles,
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
