import { eq } from 'drizzle-orm';
import type { Db } from '../../db/connection.js';
import { maintainerGrants, maintainers, maintenanceHolds } from '../../db/root-schema.js';
import { type KeyLineHost, maintainerKeyLineRenderer } from '../../domain/authorized-keys.js';
import type { SshKeyType } from '../../domain/ssh-public-key.js';
import { findMaintenanceHold } from '../../host-records/maintenance-holds.js';

/**
 * The maintainers' lines of hosts' key files, for a full pass (every grant,
 * read once) and a pass for one host (that host's grants) alike: a host's key
 * file is its own line, then one line per maintainer granted it (by name or
 * by a grant of every host), in the order of the maintainers' names. A
 * maintainer whose row cannot be rendered gets no line anywhere (root
 * validated it before writing: only a row edited by hand gets here), and is
 * named in `refused`. A host held for maintenance (its own key deleted or
 * pruned since an admin last looked: src/domain/maintenance-hold.ts) gets no
 * maintainer's line at all until acknowledged.
 */
export interface MaintainerLines {
  /** The key file of a host whose own line is `hostLine`. */
  keyFileOf(host: KeyLineHost, hostLine: string, backupDir: string): string;
  /** Maintainers left out, with the reason. */
  refused: { maintainer: string; reason: string }[];
}

interface Renderer {
  name: string;
  render: (host: KeyLineHost, backupDir: string) => string;
}

/** Every maintainer and grant: what a full pass needs. */
export function readMaintainerLines(db: Db): MaintainerLines {
  return maintainerLinesFrom(
    db.select().from(maintainers).all(),
    db.select({ maintainerName: maintainerGrants.maintainerName, hostName: maintainerGrants.hostName }).from(maintainerGrants).all(),
    new Set(
      db
        .select({ hostName: maintenanceHolds.hostName })
        .from(maintenanceHolds)
        .all()
        .map((hold) => hold.hostName),
    ),
  );
}

/** The maintainers that may reach one host: what a pass for that host needs. */
export function readMaintainerLinesOf(db: Db, hostName: string): MaintainerLines {
  return maintainerLinesFrom(
    db.select().from(maintainers).all(),
    db
      .select({ maintainerName: maintainerGrants.maintainerName, hostName: maintainerGrants.hostName })
      .from(maintainerGrants)
      .where(eq(maintainerGrants.hostName, hostName))
      .all(),
    findMaintenanceHold(db, hostName) ? new Set([hostName]) : new Set(),
  );
}

type MaintainerRow = typeof maintainers.$inferSelect;

function maintainerLinesFrom(
  rows: MaintainerRow[],
  grants: { maintainerName: string; hostName: string }[],
  heldHosts: ReadonlySet<string>,
): MaintainerLines {
  const refused: MaintainerLines['refused'] = [];
  const renderers = new Map<string, Renderer>();
  for (const row of [...rows].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    try {
      const render = maintainerKeyLineRenderer({
        name: row.name,
        keyType: row.keyType as SshKeyType,
        keyBase64: row.keyBase64,
        allowFrom: row.allowFrom,
      });
      renderers.set(row.name, { name: row.name, render });
    } catch (error) {
      refused.push({ maintainer: String(row.name), reason: (error as Error).message });
    }
  }
  const everyHost = rows.filter((row) => row.isGrantedAllHosts === true && renderers.has(row.name)).map((row) => row.name);
  const byHost = new Map<string, Set<string>>();
  for (const grant of grants) {
    if (!renderers.has(grant.maintainerName)) continue;
    let names = byHost.get(grant.hostName);
    if (names === undefined) {
      names = new Set();
      byHost.set(grant.hostName, names);
    }
    names.add(grant.maintainerName);
  }
  const ordered = [...renderers.values()];
  return {
    refused,
    keyFileOf(host, hostLine, backupDir) {
      if (heldHosts.has(host.name)) return hostLine;
      const granted = byHost.get(host.name);
      if (everyHost.length === 0 && granted === undefined) return hostLine;
      let text = hostLine;
      for (const renderer of ordered) {
        if (!granted?.has(renderer.name) && !everyHost.includes(renderer.name)) continue;
        text += renderer.render(host, backupDir);
      }
      return text;
    },
  };
}
