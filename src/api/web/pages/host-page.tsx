import type { auditLog } from '../../../db/schema.js';
import type { RestorePoints as NewestRestorePoints } from '../../../domain/borg-transactions.js';
import { formatBytes } from '../../../domain/sizes.js';
import type { HostSessionRow } from '../../../host-records/host-sessions.js';
import type { RepositoryCheckRow } from '../../../host-records/repository-checks.js';
import type { HostView } from '../../hosts/hosts.js';
import { durationInput, humanBytes, utcTime } from '../format.js';
import { AuditTable } from './audit-page.js';
import { BackupChart } from './backup-chart.js';
import { Badge, Cell, DataTable, QuotaBar, When } from './components.js';
import { HostMode } from './host-rows.js';
import { ActionButton, CsrfField, Layout, mayPost, type PageFrame } from './layout.js';

/** The host page's one-field settings forms: what each is called and shows; the route accepts only these names. */
export const HOST_SETTINGS: Record<string, { label: string; shownFor: (host: HostView) => string }> = {
  quota: { label: 'Quota (e.g. 50G; empty for none)', shownFor: (host) => (host.quotaBytes === null ? '' : formatBytes(host.quotaBytes)) },
  allowFrom: { label: 'Allowed sources (CIDR list; empty for anywhere)', shownFor: (host) => host.allowFrom ?? '' },
  maxSessions: { label: 'Sessions at once (1–100)', shownFor: (host) => String(host.maxSessions) },
  expectBackupEvery: {
    label: 'Stale after (e.g. 26h; empty for the default)',
    shownFor: (host) => durationInput(host.expectBackupEverySeconds),
  },
  checkEvery: {
    label: 'Integrity check every (e.g. 7d, or "none")',
    shownFor: (host) => (host.checkEverySeconds === null ? 'none' : durationInput(host.checkEverySeconds)),
  },
  pingUrl: { label: 'Ping URL (empty for none)', shownFor: (host) => host.pingUrl ?? '' },
};

export interface HostPageData {
  host: HostView;
  sessions: HostSessionRow[];
  checks: RepositoryCheckRow[];
  audit: (typeof auditLog.$inferSelect)[];
  /** The repository's commits (restore points), or why they could not be read. */
  restorePoints: NewestRestorePoints | { unavailable: string };
  now: Date;
}

export function HostPage({ frame, data }: { frame: PageFrame & { csrfToken: string }; data: HostPageData }) {
  const { host, now } = data;
  const base = `/ui/hosts/${host.name}`;
  const csrfToken = frame.csrfToken;
  return (
    <Layout {...frame}>
      <dl class="facts" id="host-facts">
        <dt>Status</dt>
        <dd data-field="status">
          <Badge value={host.status} /> <Badge value={host.backupStatus} />
        </dd>
        <dt>Last backup</dt>
        <dd data-field="last-backup">
          <When at={host.lastBackupAt} now={now} />
        </dd>
        <dt>Size and quota</dt>
        <dd data-field="size">
          <QuotaBar used={host.repositoryBytes} quota={host.quotaBytes} />
        </dd>
        <dt>Mode</dt>
        <dd data-field="mode">
          <HostMode host={host} now={now} />
        </dd>
        <dt>Fingerprint</dt>
        <dd>
          <code>{host.fingerprint}</code> ({host.keyType})
        </dd>
        <dt>Maintainers</dt>
        <dd data-field="maintenance">
          {host.maintainers.length === 0 ? 'none' : host.maintainers.join(', ')}
          {host.maintenanceHold && (
            <>
              {' '}
              — held out since <When at={host.maintenanceHold.since} now={now} />: {host.maintenanceHold.reason}
              {mayPost(frame) && <ActionButton action={`${base}/acknowledge`} csrfToken={csrfToken} label="Acknowledge" />}
            </>
          )}
        </dd>
        <dt>Repository URL</dt>
        <dd>
          <code>{host.repoUrl}</code>
        </dd>
        <dt>Allowed from</dt>
        <dd>{host.allowFrom ?? 'anywhere'}</dd>
        <dt>Sessions at once</dt>
        <dd>{host.maxSessions}</dd>
        <dt>Stale after</dt>
        <dd>{durationInput(host.expectBackupEverySeconds)} without a backup</dd>
        <dt>Integrity check</dt>
        <dd>
          {host.checkEverySeconds === null ? 'not scheduled' : `every ${durationInput(host.checkEverySeconds)}`}
          {host.lastCheck && (
            <>
              , last <Badge value={host.lastCheck.outcome} /> <When at={host.lastCheck.endedAt} now={now} />
            </>
          )}
        </dd>
        <dt>Ping URL</dt>
        <dd>{host.pingUrl ? <code>{host.pingUrl}</code> : 'none'}</dd>
        <dt>Created</dt>
        <dd>
          <When at={host.createdAt} now={now} /> ({host.origin}, UID {host.uid})
        </dd>
      </dl>

      <h2>Backups</h2>
      <BackupChart sessions={data.sessions} />
      <DataTable columns={['Started', 'Outcome', 'Added', 'Commits', 'From', 'Ended by']} empty="No sessions recorded yet.">
        {data.sessions.map((session) => (
          <tr data-session={session.id}>
            <Cell label="Started">
              <When at={session.startedAt} now={now} />
            </Cell>
            <Cell label="Outcome">
              <Badge value={session.outcome} />
            </Cell>
            <Cell label="Added">{humanBytes(session.bytesAdded)}</Cell>
            <Cell label="Commits">{session.transactionsCommitted}</Cell>
            <Cell label="From">{session.clientAddress ?? '–'}</Cell>
            <Cell label="Ended by">{session.endedBy}</Cell>
          </tr>
        ))}
      </DataTable>

      {mayPost(frame) && (
        <>
          <h2>Actions</h2>
          <div class="actions">
            <section class="card">
              <h3>Access</h3>
              {host.status === 'active' ? (
                <ActionButton action={`${base}/disable`} csrfToken={csrfToken} label="Disable" danger />
              ) : (
                <ActionButton action={`${base}/enable`} csrfToken={csrfToken} label="Enable" />
              )}
              <p class="muted">Disabling removes its key line at once and ends its sessions; the repository stays.</p>
              {host.appendOnly &&
                (host.fullAccessUntil ? (
                  <ActionButton action={`${base}/full-access/close`} csrfToken={csrfToken} label="Close full access now" />
                ) : (
                  <form method="post" action={`${base}/full-access`} class="stack">
                    <CsrfField token={csrfToken} />
                    <label>
                      Full access (prune, compact) for
                      <input type="text" name="for" value="2h" maxlength={16} required />
                    </label>
                    <button type="submit" class="secondary">
                      Open full access
                    </button>
                  </form>
                ))}
              <ActionButton action={`${base}/check`} csrfToken={csrfToken} label="Check repository now" />
            </section>
            <section class="card">
              <h3>Settings</h3>
              {Object.entries(HOST_SETTINGS).map(([setting, { label, shownFor }]) => (
                <SettingForm base={base} csrfToken={csrfToken} setting={setting} label={label} value={shownFor(host)} />
              ))}
            </section>
            <section class="card">
              <h3>Delete</h3>
              <form method="post" action={`${base}/delete`} class="stack">
                <CsrfField token={csrfToken} />
                <label>
                  Type the host's name to delete it
                  <input type="text" name="confirm" required maxlength={64} autocomplete="off" />
                </label>
                <label class="check">
                  <input type="checkbox" name="purge" value="yes" /> Also delete its repository (purge: the backups are gone for good)
                </label>
                <button type="submit" class="danger">
                  Delete host
                </button>
              </form>
            </section>
          </div>
        </>
      )}

      <h2>Restore points</h2>
      <RestorePoints name={host.name} points={data.restorePoints} now={now} />

      <h2>Integrity checks</h2>
      <DataTable columns={['Started', 'Outcome', 'Detail']} empty="No check has run yet.">
        {data.checks.map((check) => (
          <tr>
            <Cell label="Started">
              <When at={check.startedAt} now={now} />
            </Cell>
            <Cell label="Outcome">{check.outcome ? <Badge value={check.outcome} /> : 'running'}</Cell>
            <Cell label="Detail">{check.detail ?? ''}</Cell>
          </tr>
        ))}
      </DataTable>

      <h2>Audit trail</h2>
      <AuditTable entries={data.audit} now={now} />
    </Layout>
  );
}

function SettingForm({
  base,
  csrfToken,
  setting,
  label,
  value,
}: {
  base: string;
  csrfToken: string;
  setting: string;
  label: string;
  value: string;
}) {
  return (
    <form method="post" action={`${base}/settings`} class="stack setting" data-setting={setting}>
      <CsrfField token={csrfToken} />
      <input type="hidden" name="setting" value={setting} />
      <label>
        {label}
        <input type="text" name="value" value={value} maxlength={2048} autocomplete="off" />
      </label>
      <button type="submit" class="secondary">
        Set
      </button>
    </form>
  );
}

function RestorePoints({ name, points, now }: { name: string; points: HostPageData['restorePoints']; now: Date }) {
  const command = `docker compose exec borg borgctl hosts restore ${name} --before TIME`;
  return (
    <>
      <p class="muted">
        A restore undoes what the host wrote after a commit (a compromised VM's delete or prune). It runs as root on the server, so it is
        started there: <code>{command}</code>, with TIME just after the commit to keep.
      </p>
      {'unavailable' in points ? (
        <p class="muted">{points.unavailable}</p>
      ) : (
        <>
          <DataTable columns={['Commit', 'Committed']} empty="The repository has no commits yet.">
            {points.newest
              .slice()
              .reverse()
              .map((point) => (
                <tr>
                  <Cell label="Commit">{point.id}</Cell>
                  <Cell label="Committed">
                    <time datetime={point.committedAt.toISOString()}>{utcTime(point.committedAt)}</time> (
                    <When at={point.committedAt} now={now} />)
                  </Cell>
                </tr>
              ))}
          </DataTable>
          {points.total > points.newest.length && (
            <p class="muted">
              The newest {points.newest.length} of {points.total} commits:{' '}
              <code>docker compose exec borg borgctl hosts restore {name} --list</code> lists them all.
            </p>
          )}
        </>
      )}
    </>
  );
}
