/** Prints rows as JSON (--json) or as an aligned table for people. */
export function printRows(rows: Record<string, unknown>[], columns: string[], asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stderr.write('(none)\n');
    return;
  }
  const cells = rows.map((row) => columns.map((column) => formatCell(row[column])));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => (line[index] ?? '').length)));
  const render = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[render(columns), ...cells.map(render)].join('\n')}\n`);
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/** A secret goes alone on the last line of standard output; explanations go to standard error. */
export function printSecret(explanation: string, secret: string): void {
  process.stderr.write(`${explanation}\n`);
  process.stdout.write(`${secret}\n`);
}
