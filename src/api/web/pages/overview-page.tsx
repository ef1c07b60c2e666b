import type { EnrollmentView } from '../../enrollment/enroll.js';
import type { HostSummary } from '../../monitoring/host-summaries.js';
import { When } from './components.js';
import { HostTable } from './host-rows.js';
import { Layout, type PageFrame } from './layout.js';

export interface OverviewData {
  hosts: HostSummary[];
  /** The hosts with problems, worst first (a page of them). */
  troubled: HostSummary[];
  pending: EnrollmentView[];
  now: Date;
}

export function OverviewPage({ frame, data }: { frame: PageFrame; data: OverviewData }) {
  const { hosts, troubled, pending, now } = data;
  const count = (test: (host: HostSummary) => boolean) => hosts.filter(test).length;
  const figures: [string, number, string][] = [
    ['Hosts', hosts.length, '/ui/hosts'],
    ['Backed up in time', count((host) => host.backupStatus === 'ok'), '/ui/hosts?show=ok'],
    ['Stale', count((host) => host.problems.includes('stale')), '/ui/hosts?show=stale'],
    ['Check failed', count((host) => host.problems.includes('check-failed')), '/ui/hosts?show=check-failed'],
    ['Quota high', count((host) => host.problems.includes('quota-high')), '/ui/hosts?show=quota-high'],
    ['No backup yet', count((host) => host.problems.includes('never-backed-up')), '/ui/hosts?show=never-backed-up'],
    ['Disabled', count((host) => host.status === 'disabled'), '/ui/hosts?show=disabled'],
    ['Pending enrollments', pending.length, '/ui/enrollments'],
  ];
  return (
    <Layout {...frame}>
      <ul class="counts" aria-label="Counts">
        {figures.map(([label, value, href]) => (
          <li data-count={label}>
            <a href={href}>
              <strong>{value}</strong>
              {label}
            </a>
          </li>
        ))}
      </ul>
      <h2>Needs attention</h2>
      <HostTable hosts={troubled} now={now} empty="Every host backed up in time and passed its last check." />
      {troubled.length < count((host) => host.problems.length > 0) && (
        <p>
          <a href="/ui/hosts?show=attention">All hosts that need attention</a>
        </p>
      )}
      <h2>Pending enrollments</h2>
      {pending.length === 0 ? (
        <p class="muted">No host is waiting for approval.</p>
      ) : (
        <ul>
          {pending.slice(0, 20).map((enrollment) => (
            <li>
              <a href={`/ui/enrollments#enrollment-${enrollment.id}`}>{enrollment.hostname}</a> from{' '}
              {enrollment.sourceAddress ?? 'an unknown address'}, <When at={enrollment.createdAt} now={now} />
            </li>
          ))}
        </ul>
      )}
    </Layout>
  );
}
