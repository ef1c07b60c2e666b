import type { HostSummary } from '../../monitoring/host-summaries.js';
import { HostTable } from './host-rows.js';
import { Layout, type PageFrame } from './layout.js';

export const HOST_FILTERS = {
  all: 'All hosts',
  attention: 'Need attention',
  stale: 'Stale',
  'check-failed': 'Check failed',
  'quota-high': 'Quota high',
  'never-backed-up': 'No backup yet',
  ok: 'Backed up in time',
  disabled: 'Disabled',
} as const;

export type HostFilter = keyof typeof HOST_FILTERS;

export interface HostListPage {
  hosts: HostSummary[];
  /** Hosts that match the search and filter, on all pages. */
  matching: number;
  page: number;
  pages: number;
  search: string;
  show: HostFilter;
}

export function HostsPage({ frame, list, now }: { frame: PageFrame; list: HostListPage; now: Date }) {
  const linkTo = (page: number) => {
    const query = new URLSearchParams();
    if (list.search) query.set('q', list.search);
    if (list.show !== 'all') query.set('show', list.show);
    if (page > 1) query.set('page', String(page));
    const text = query.toString();
    return text ? `/ui/hosts?${text}` : '/ui/hosts';
  };
  return (
    <Layout {...frame}>
      <form method="get" action="/ui/hosts" class="search">
        <label>
          Name contains
          <input type="search" name="q" value={list.search} maxlength={64} autocomplete="off" />
        </label>
        <label>
          Show
          <select name="show">
            {Object.entries(HOST_FILTERS).map(([value, label]) => (
              <option value={value} selected={value === list.show}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      <p class="muted" id="host-count">
        {list.matching} {list.matching === 1 ? 'host' : 'hosts'}
        {list.pages > 1 && `, page ${list.page} of ${list.pages}`}
      </p>
      <HostTable hosts={list.hosts} now={now} empty="No host matches." />
      {list.pages > 1 && (
        <nav class="pager" aria-label="Pages">
          {list.page > 1 && (
            <a href={linkTo(list.page - 1)} rel="prev">
              ← Previous
            </a>
          )}
          {list.page < list.pages && (
            <a href={linkTo(list.page + 1)} rel="next">
              Next →
            </a>
          )}
        </nav>
      )}
    </Layout>
  );
}
