import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { eq } from 'drizzle-orm';
import type { Config } from '../../config.js';
import type { Db } from '../../db/connection.js';
import { hosts, importedAncestorUsers } from '../../db/root-schema.js';
import { isValidHostName } from '../../domain/host-name.js';
import { isHostAccountUid } from '../../domain/host-uid.js';
import { parseSshPublicKey, type SshPublicKey } from '../../domain/ssh-public-key.js';
import { allocateUid, findHost, HOST_UID_MIN, upsertHost } from '../../host-records/hosts-store.js';
import type { Logger } from '../../log.js';
import { chownTree } from '../files/directories.js';
import { reportAudit, reportHost } from '../reports/report-to-api.js';

/**
 * Upgrade from secured-borg-server: its users directory holds one file per
 * user, named for the user, with that user's public key; the repositories
 * are at BACKUP_DIR/NAME/repo. Each user becomes an approved host with its
 * repository (and, where no system account holds it, its UID). A name is
 * imported once: a host deleted afterwards is not brought back. Root's
 * side: it writes root's database and reports each host to the API.
 */
export function importAncestorUsers(db: Db, config: Config, logger: Logger): void {
  const directory = config.importUsersDir;
  if (!directory || !existsSync(directory)) return;
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const imported: string[] = [];
  for (const name of readdirSync(directory).sort()) {
    if (wasImported(db, name)) continue;
    if (!isValidHostName(name)) {
      logger.warn({ user: name }, 'not imported: the name is not a valid host name');
      continue;
    }
    if (findHost(db, name)) {
      logger.warn({ user: name }, 'not imported: a host with this name exists');
      continue;
    }
    const key = firstValidKey(readFileSync(`${directory}/${name}`, 'utf8'));
    if (!key) {
      logger.warn({ user: name }, 'not imported: no acceptable public key in the file');
      continue;
    }
    const repository = `${config.backupDir}/${name}/repo`;
    const uid = keepOrMoveUid(db, passwd, name, repository);
    const now = new Date();
    db.transaction((tx) => {
      const host = upsertHost(
        tx,
        {
          name,
          uid,
          keyType: key.type,
          keyBase64: key.base64,
          fingerprint: key.fingerprint,
          appendOnly: true,
          quotaBytes: null,
          allowFrom: null,
          origin: 'import',
          enrollmentId: null,
        },
        now,
      );
      tx.insert(importedAncestorUsers).values({ name, importedAt: now }).onConflictDoNothing().run();
      reportHost(tx, now, host);
      reportAudit(tx, now, { actor: 'upgrade', action: 'host.import', target: name, details: { uid, fingerprint: key.fingerprint } });
    });
    imported.push(name);
    logger.info({ host: name, uid, fingerprint: key.fingerprint, repository }, 'imported host from secured-borg-server');
  }
  if (imported.length > 0) logger.info({ count: imported.length, hosts: imported }, 'upgrade import finished');
}

function wasImported(db: Db, name: string): boolean {
  return db.select().from(importedAncestorUsers).where(eq(importedAncestorUsers.name, name)).get() !== undefined;
}

/** Where a key starts in an ancestor's line, after any options (huncrys' forks wrote `command="…",restrict ssh-…`). */
const KEY_START =
  /(?:^|[\s,"])((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,2})(?:\s|$)/;

function firstValidKey(text: string): SshPublicKey | null {
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const candidate = KEY_START.exec(line)?.[1];
    if (!candidate) continue;
    try {
      return parseSshPublicKey(candidate);
    } catch {}
  }
  return null;
}

/**
 * The repository's current owner keeps its UID when no system account and no
 * other host holds it; otherwise the host gets a new UID and the tree moves.
 */
function keepOrMoveUid(db: Db, passwd: string, name: string, repository: string): number {
  // lstat: a repo that is a link or a file (reconcile refuses that host) gives no UID to keep.
  const stats = lstatSync(repository, { throwIfNoEntry: false });
  if (!stats?.isDirectory()) return allocateUid(db);
  const owner = stats.uid;
  const isTakenBySystem = passwd.split('\n').some((line) => line.split(':')[2] === String(owner) && line.split(':')[0] !== name);
  const isTakenByHost = db.select().from(hosts).where(eq(hosts.uid, owner)).get() !== undefined;
  // Only a UID reconcile accepts (src/domain/host-uid.ts): an ancestor's 60000-65533 moves too.
  if (isHostAccountUid(owner) && !isTakenBySystem && !isTakenByHost) return owner;
  const uid = Math.max(allocateUid(db), HOST_UID_MIN);
  chownTree(repository, uid, uid);
  return uid;
}
