import { and, eq, inArray, isNotNull, max } from 'drizzle-orm';
import { toHostRowMessage } from '../channel/host-row.js';
import { openDatabase } from '../db/connection.js';
import { auditLog, hostBackupState, hosts, repositoryChecks } from '../db/schema.js';
import { readRegularFileIfExists } from '../untrusted-files.js';

/**
 * Run once, as the API user, by root's first start of a version with a
 * database of its own (src/root/upgrade/legacy-state.ts): prints, as JSON, what
 * the API's database holds that root now keeps itself. Root never opens the
 * API's database; it reads this output and checks every row of it.
 * Usage: node export-api-state.js DATABASE [TLS_DIRECTORY]
 */
const [path, tlsDirectory] = process.argv.slice(2);
if (!path) throw new Error('usage: export-api-state DATABASE [TLS_DIRECTORY]');
const db = openDatabase(path);
const newestCheckIds = db
  .select({ id: max(repositoryChecks.id) })
  .from(repositoryChecks)
  .where(isNotNull(repositoryChecks.endedAt))
  .groupBy(repositoryChecks.hostName);
const exported = {
  hosts: db.select().from(hosts).all().map(toHostRowMessage),
  backupStates: db
    .select()
    .from(hostBackupState)
    .all()
    .map((state) => ({
      hostName: state.hostName,
      lastSessionAt: state.lastSessionAt?.getTime() ?? null,
      lastBackupAt: state.lastBackupAt?.getTime() ?? null,
      repositoryBytes: state.repositoryBytes,
    })),
  lastChecks: db
    .select()
    .from(repositoryChecks)
    .where(inArray(repositoryChecks.id, newestCheckIds))
    .all()
    .map((check) => ({ ...check, startedAt: check.startedAt.getTime(), endedAt: check.endedAt?.getTime() ?? null })),
  importedNames: db
    .selectDistinct({ name: auditLog.target })
    .from(auditLog)
    .where(and(eq(auditLog.action, 'host.import'), isNotNull(auditLog.target)))
    .all()
    .map((row) => row.name),
};
db.$client.close();
// The pair the API served (its pin is in every enroll command handed out): root keeps it in its own directory now.
const certificatePem = tlsDirectory ? readRegularFileIfExists(`${tlsDirectory}/certificate.pem`) : null;
const keyPem = tlsDirectory ? readRegularFileIfExists(`${tlsDirectory}/key.pem`) : null;
Object.assign(exported, { tls: certificatePem && keyPem ? { certificatePem, keyPem } : null });
process.stdout.write(JSON.stringify(exported));
