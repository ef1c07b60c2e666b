import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { type HostRow, hostRowMessage } from '../../channel/host-row.js';
import { checkRowMessage } from '../../channel/root-reports.js';
import { type Config, statePaths } from '../../config.js';
import type { Db, Queryable } from '../../db/connection.js';
import { hostBackupState, hosts, importedAncestorUsers, repositoryChecks } from '../../db/root-schema.js';
import { parseCheckEvery } from '../../domain/check-schedule.js';
import { isValidHostName, parseHostName } from '../../domain/host-name.js';
import { isHostAccountUid } from '../../domain/host-uid.js';
import { parseAllowFrom } from '../../domain/networks.js';
import { parseMaxSessions } from '../../domain/session-cap.js';
import { parseQuota } from '../../domain/sizes.js';
import { parseSshPublicKey } from '../../domain/ssh-public-key.js';
import { AppError } from '../../errors.js';
import { publicKeyPin } from '../../identity/public-key-pin.js';
import type { Logger } from '../../log.js';
import type { Run } from '../../process/run.js';
import { ensureDirectory } from '../files/directories.js';
import { checkedExpectBackupEvery, checkedWindowEnd } from '../requests/host-requests.js';
import { checkCertificatePair } from '../tls/certificate-check.js';
import { publicHostName, writeServedPair } from '../tls/tls-files.js';

const EXPORT_ENTRY = fileURLToPath(new URL('../../api/export-api-state.js', import.meta.url));
/** More hosts than the UID range holds: an export larger than this is not what the server wrote. */
const MAX_EXPORTED_HOSTS = 60_000;

const epochMs = z.number().int().nonnegative().nullable();
const legacyExport = z.strictObject({
  hosts: z.array(z.strictObject({ ...hostRowMessage.shape, pingUrl: z.string().max(4096).nullable() })).max(MAX_EXPORTED_HOSTS),
  backupStates: z
    .array(
      z.strictObject({
        hostName: z.string().max(64),
        lastSessionAt: epochMs,
        lastBackupAt: epochMs,
        repositoryBytes: z.number().int().nullable(),
      }),
    )
    .max(MAX_EXPORTED_HOSTS),
  lastChecks: z.array(checkRowMessage).max(MAX_EXPORTED_HOSTS),
  importedNames: z.array(z.string().max(64)).max(MAX_EXPORTED_HOSTS),
  tls: z.strictObject({ certificatePem: z.string().max(65_536), keyPem: z.string().max(65_536) }).nullable(),
});

/**
 * An existing state volume upgrades on the first start of this version: the
 * hosts the API's database held (every name, UID and key), what the server
 * knew of their backups and checks, and the ancestor's users imported
 * before, are brought into root's new database. The API's database is read
 * by a process of the API user (export-api-state.ts); root parses its output
 * and checks every row as it checks the API's requests, keeping the UID each
 * host had (it owns the repository on disk). A row that fails is left out
 * and logged; the API's database is left as it was.
 */
export async function importLegacyState(options: {
  db: Db;
  config: Config;
  apiAccount: { uid: number; gid: number };
  logger: Logger;
  run: Run;
}): Promise<void> {
  const { db, config, apiAccount, logger, run } = options;
  const paths = statePaths(config.stateDir);
  if (!existsSync(paths.database)) return;
  const output = await run(process.execPath, [EXPORT_ENTRY, paths.database, paths.legacyTlsDir], { timeoutMs: 300_000, ...apiAccount });
  const exported = legacyExport.parse(JSON.parse(output.stdout));
  const now = new Date();
  if (config.isHttps && exported.tls) keepServedTlsPair(config, exported.tls, apiAccount, now, logger);
  const refused: { name: string; reason: string }[] = [];
  const kept = new Set<string>();
  db.transaction((tx) => {
    for (const host of exported.hosts) {
      try {
        const row = legacyHostRow(tx, host, now);
        tx.insert(hosts).values(row).run();
        kept.add(row.name);
      } catch (error) {
        refused.push({ name: host.name.slice(0, 64), reason: (error as Error).message });
      }
    }
    for (const state of exported.backupStates.filter((row) => kept.has(row.hostName))) {
      tx.insert(hostBackupState)
        .values({
          hostName: state.hostName,
          lastSessionAt: state.lastSessionAt === null ? null : new Date(state.lastSessionAt),
          lastBackupAt: state.lastBackupAt === null ? null : new Date(state.lastBackupAt),
          repositoryBytes: state.repositoryBytes,
          updatedAt: now,
        })
        .run();
    }
    for (const check of exported.lastChecks.filter((row) => kept.has(row.hostName))) {
      tx.insert(repositoryChecks)
        .values({ ...check, startedAt: new Date(check.startedAt), endedAt: check.endedAt === null ? null : new Date(check.endedAt) })
        .run();
    }
    for (const name of exported.importedNames.filter(isValidHostName)) {
      tx.insert(importedAncestorUsers).values({ name, importedAt: now }).onConflictDoNothing().run();
    }
  });
  for (const refusal of refused) logger.error(refusal, "upgrade: host left out of root's database");
  logger.info({ hosts: kept.size, refused: refused.length }, "upgrade: root's database made from the API's");
}

type LegacyHost = z.infer<typeof legacyExport>['hosts'][number];

/**
 * A host as the earlier version served it, checked as root checks a request, keeping its UID (it owns the
 * repository on disk) and its creation time; the ping URL stays the API's.
 */
function legacyHostRow(tx: Queryable, host: LegacyHost, now: Date): HostRow {
  const name = parseHostName(host.name);
  const key = parseSshPublicKey(`${host.keyType} ${host.keyBase64}`);
  const isTaken = tx.select({ uid: hosts.uid }).from(hosts).where(eq(hosts.uid, host.uid)).get() !== undefined;
  if (!isHostAccountUid(host.uid) || isTaken)
    throw new AppError('BAD_REQUEST', `UID ${host.uid} is not a host UID, or another host has it`);
  return {
    name,
    uid: host.uid,
    keyType: key.type,
    keyBase64: key.base64,
    fingerprint: key.fingerprint,
    appendOnly: host.appendOnly,
    fullAccessUntil: checkedWindowEnd(host.fullAccessUntil, now),
    quotaBytes: host.quotaBytes === null ? null : parseQuota(host.quotaBytes),
    allowFrom: host.allowFrom === null ? null : parseAllowFrom(host.allowFrom),
    maxSessions: parseMaxSessions(host.maxSessions),
    status: host.status,
    origin: host.origin,
    enrollmentId: host.enrollmentId,
    pingUrl: null,
    expectBackupEveryMs: checkedExpectBackupEvery(host.expectBackupEveryMs),
    checkEverySeconds: host.checkEverySeconds === null ? null : parseCheckEvery(host.checkEverySeconds),
    createdAt: new Date(host.createdAt),
    updatedAt: now,
  };
}

/**
 * The pair the API served before (its pin is in every enroll command handed out), into root's tls/ directory,
 * when it is still a valid pair for the public name; otherwise prepareTlsFiles makes a new one, as it always did.
 */
function keepServedTlsPair(
  config: Config,
  pair: { certificatePem: string; keyPem: string },
  apiGroup: { gid: number },
  now: Date,
  logger: Logger,
): void {
  const paths = statePaths(config.stateDir);
  try {
    checkCertificatePair(pair.certificatePem, pair.keyPem, publicHostName(config), now);
  } catch (error) {
    logger.warn({ reason: (error as Error).message }, 'upgrade: the TLS pair served before is not kept');
    return;
  }
  ensureDirectory(paths.tlsDir, { uid: 0, gid: apiGroup.gid, mode: 0o750 });
  writeServedPair(paths, pair.certificatePem, pair.keyPem, apiGroup);
  logger.info({ pin: publicKeyPin(pair.certificatePem) }, "upgrade: the TLS pair served before moved into root's tls/");
}
