import type { auditLog } from '../../../db/schema.js';
import { Cell, DataTable, Pager, When } from './components.js';
import { Layout, type PageFrame } from './layout.js';

type AuditRow = typeof auditLog.$inferSelect;

export function AuditTable({ entries, now }: { entries: AuditRow[]; now: Date }) {
  return (
    <DataTable columns={['When', 'Who', 'What', 'Target', 'From', 'Details']} empty="Nothing recorded.">
      {entries.map((entry) => (
        <tr data-audit={entry.id}>
          <Cell label="When">
            <When at={entry.at} now={now} />
          </Cell>
          <Cell label="Who">{entry.actor}</Cell>
          <Cell label="What">{entry.action}</Cell>
          <Cell label="Target">{entry.target ?? ''}</Cell>
          <Cell label="From">{entry.sourceAddress ?? ''}</Cell>
          <Cell label="Details">{entry.details ? <code>{JSON.stringify(entry.details)}</code> : ''}</Cell>
        </tr>
      ))}
    </DataTable>
  );
}

export function AuditPage({
  frame,
  entries,
  older,
  newer,
  now,
}: {
  frame: PageFrame;
  entries: AuditRow[];
  older?: string;
  newer?: string;
  now: Date;
}) {
  return (
    <Layout {...frame}>
      <AuditTable entries={entries} now={now} />
      <Pager older={older} newer={newer} />
    </Layout>
  );
}
