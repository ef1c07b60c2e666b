import type { Child } from 'hono/jsx';
import { humanBytes, relativeTime, utcTime } from '../format.js';

/** A time as "3 h ago", with the exact UTC time on hover and for machines. */
export function When({ at, now, never = 'never' }: { at: Date | null; now: Date; never?: string }) {
  if (!at) return <span class="muted">{never}</span>;
  return (
    <time datetime={at.toISOString()} title={utcTime(at)}>
      {relativeTime(at, now)}
    </time>
  );
}

const BADGE_CLASS: Record<string, string> = {
  ok: 'good',
  active: 'good',
  approved: 'good',
  delivered: 'good',
  backup: 'good',
  stale: 'bad',
  failed: 'bad',
  error: 'bad',
  denied: 'bad',
  aborted: 'bad',
  disabled: 'warn',
  never: 'warn',
  pending: 'warn',
  interrupted: 'warn',
  changed: 'warn',
  'check failed': 'bad',
  'quota high': 'bad',
};

export function Badge({ value }: { value: string }) {
  return <span class={`badge ${BADGE_CLASS[value] ?? 'plain'}`}>{value}</span>;
}

/** Repository size against the quota, as a native <meter> (no inline style under the CSP). */
export function QuotaBar({ used, quota }: { used: number | null; quota: number | null }) {
  if (quota === null) return <span>{humanBytes(used)} (no quota)</span>;
  const share = used === null ? 0 : used / quota;
  return (
    <span class="quota">
      <meter min={0} max={1} low={0.8} high={0.9} optimum={0} value={Math.min(share, 1)} title={`${Math.round(share * 100)} %`} />
      <span>
        {humanBytes(used)} of {humanBytes(quota)}
      </span>
    </span>
  );
}

/** A table that turns into labelled cards on a phone: every cell carries its column's name. */
export function DataTable({ columns, empty, children }: { columns: string[]; empty: string; children?: Child }) {
  if (isEmpty(children)) return <p class="muted">{empty}</p>;
  return (
    <table class="cards">
      <thead>
        <tr>
          {columns.map((column) => (
            <th scope="col">{column}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

export function Cell({ label, children }: { label: string; children?: Child }) {
  return <td data-label={label}>{children}</td>;
}

/** "Newer"/"Older" links; each is shown only when there is such a page. */
export function Pager({ newer, older }: { newer?: string | undefined; older?: string | undefined }) {
  if (!newer && !older) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {newer && (
        <a href={newer} rel="prev">
          ← Newer
        </a>
      )}
      {older && (
        <a href={older} rel="next">
          Older →
        </a>
      )}
    </nav>
  );
}

function isEmpty(children: Child): boolean {
  if (Array.isArray(children)) return children.every((child: Child) => isEmpty(child));
  return children === null || children === undefined || children === false || children === '';
}
