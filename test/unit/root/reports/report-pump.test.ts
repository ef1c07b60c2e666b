import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { NumberedRootReport } from '../../../../src/channel/root-reports.js';
import { REPORTS_PER_BATCH } from '../../../../src/channel/root-reports.js';
import { migrateRootDatabase, openDatabase, openMemoryRootDatabase } from '../../../../src/db/connection.js';
import { createReportPump } from '../../../../src/root/reports/report-pump.js';
import { dropReportsBeyond, reportAudit } from '../../../../src/root/reports/report-to-api.js';
import { reportsOf } from '../../../support/root-reports.js';

/** Root's reports reach the API in order, one batch at a time, and stay until the API has them. */

const NOW = new Date('2026-12-01T12:00:00.000Z');
const logger = pino({ level: 'silent' });

function reportMany(db: ReturnType<typeof openMemoryRootDatabase>, count: number) {
  for (let index = 0; index < count; index += 1) reportAudit(db, NOW, { action: `action.${index}`, target: 'web1' });
}

describe('the report pump', () => {
  it('sends the oldest batch, waits for its acknowledgement, then the next', () => {
    const db = openMemoryRootDatabase();
    reportMany(db, REPORTS_PER_BATCH + 3);
    const sent: NumberedRootReport[][] = [];
    const pump = createReportPump({ db, logger });
    pump.connect((batch) => sent.push(batch));
    pump.flush();
    expect(sent.map((batch) => batch.length)).toEqual([REPORTS_PER_BATCH]);
    pump.acknowledge(sent[0]?.at(-1)?.id ?? 0);
    expect(sent.map((batch) => batch.length)).toEqual([REPORTS_PER_BATCH, 3]);
    pump.acknowledge(sent[1]?.at(-1)?.id ?? 0);
    expect(reportsOf(db)).toEqual([]);
  });

  it('tells an API that connects when there is nothing to send, with an empty batch', () => {
    const sent: NumberedRootReport[][] = [];
    createReportPump({ db: openMemoryRootDatabase(), logger }).connect((batch) => sent.push(batch));
    expect(sent).toEqual([[]]);
  });

  it('forgets no more than it sent, whatever the acknowledgement says', () => {
    const db = openMemoryRootDatabase();
    reportMany(db, 2);
    const sent: NumberedRootReport[][] = [];
    const pump = createReportPump({ db, logger });
    pump.connect((batch) => sent.push(batch));
    reportMany(db, 1);
    pump.acknowledge(1_000_000);
    expect(reportsOf(db)).toHaveLength(1);
  });

  it('keeps every report while no API is connected, and sends them all again to an API that reconnects', () => {
    const db = openMemoryRootDatabase();
    reportMany(db, 3);
    const first: NumberedRootReport[][] = [];
    const pump = createReportPump({ db, logger });
    pump.connect((batch) => first.push(batch));
    pump.disconnect();
    const second: NumberedRootReport[][] = [];
    pump.connect((batch) => second.push(batch));
    expect(second[0]?.map((report) => report.id)).toEqual(first[0]?.map((report) => report.id));
    expect(reportsOf(db)).toHaveLength(3);
  });

  it('keeps at most the newest reports for an API that never acknowledges them', () => {
    const db = openMemoryRootDatabase();
    reportMany(db, 5);
    expect(dropReportsBeyond(db, 2)).toBe(3);
    expect(reportsOf(db).map((report) => (report.kind === 'audit' ? report.entry.action : ''))).toEqual(['action.3', 'action.4']);
  });

  it('sends a batch again when its acknowledgement does not come in time', () => {
    const db = openMemoryRootDatabase();
    reportMany(db, 1);
    let clock = 0;
    const sent: NumberedRootReport[][] = [];
    const pump = createReportPump({ db, logger, now: () => clock });
    pump.connect((batch) => sent.push(batch));
    pump.flush();
    expect(sent).toHaveLength(1);
    clock += 11_000;
    pump.flush();
    expect(sent).toHaveLength(2);
  });

  it('does not read the table again while nothing can have been written, and sends what this process or another connection wrote', () => {
    const directory = mkdtempSync(join(tmpdir(), 'sbs-report-pump-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const db = openDatabase(join(directory, 'root.db'));
    migrateRootDatabase(db);
    // Another connection to the same file: a borgctl command writing its reports while serve runs.
    const borgctl = openDatabase(join(directory, 'root.db'));
    onTestFinished(() => {
      db.$client.close();
      borgctl.$client.close();
    });
    const sent: NumberedRootReport[][] = [];
    const pump = createReportPump({ db, logger });
    pump.connect((batch) => sent.push(batch));
    // Every read of rows by any statement (the pump's data_version is one value, with get): the pump's query is the only one here.
    const reads = vi.spyOn(Object.getPrototypeOf(db.$client.prepare('select 1')), 'all');
    onTestFinished(() => reads.mockRestore());
    const readCount = () => reads.mock.calls.length;
    pump.flush();
    const afterFirstLook = readCount();
    pump.flush();
    pump.flush();
    expect(readCount()).toBe(afterFirstLook);

    reportMany(borgctl, 2);
    pump.flush();
    expect(sent.at(-1)?.map((report) => report.report)).toEqual([
      expect.objectContaining({ entry: expect.objectContaining({ action: 'action.0' }) }),
      expect.objectContaining({ entry: expect.objectContaining({ action: 'action.1' }) }),
    ]);
    pump.acknowledge(sent.at(-1)?.at(-1)?.id ?? 0);
    const afterAcknowledged = readCount();
    pump.flush();
    expect(readCount()).toBe(afterAcknowledged);

    reportMany(db, 1);
    pump.flush();
    expect(sent.at(-1)).toHaveLength(1);
    expect(reportsOf(db)).toHaveLength(1);
  });
});
