import type { HostSummary } from '../../monitoring/host-summaries.js';
import { Badge, Cell, DataTable, QuotaBar, When } from './components.js';

/** A table of hosts, as the overview and the host list show them. */
export function HostTable({ hosts, now, empty }: { hosts: HostSummary[]; now: Date; empty: string }) {
  return (
    <DataTable columns={['Host', 'Backups', 'Last backup', 'Size and quota', 'Mode']} empty={empty}>
      {hosts.map((host) => (
        <tr data-host={host.name}>
          <Cell label="Host">
            <a href={`/ui/hosts/${host.name}`}>{host.name}</a>
          </Cell>
          <Cell label="Backups">
            <Badge value={host.backupStatus} />{' '}
            {host.problems
              .filter((problem) => problem !== 'stale' && problem !== 'disabled' && problem !== 'never-backed-up')
              .map((problem) => (
                <Badge value={problem === 'check-failed' ? 'check failed' : 'quota high'} />
              ))}
          </Cell>
          <Cell label="Last backup">
            <When at={host.lastBackupAt} now={now} />
          </Cell>
          <Cell label="Size and quota">
            <QuotaBar used={host.repositoryBytes} quota={host.quotaBytes} />
          </Cell>
          <Cell label="Mode">
            <HostMode host={host} now={now} />
          </Cell>
        </tr>
      ))}
    </DataTable>
  );
}

export function HostMode({ host, now }: { host: Pick<HostSummary, 'appendOnly' | 'fullAccessUntil'>; now: Date }) {
  if (!host.appendOnly) return <span>full access</span>;
  if (host.fullAccessUntil) {
    return (
      <span>
        full access until <When at={host.fullAccessUntil} now={now} />
      </span>
    );
  }
  return <span>append-only</span>;
}
