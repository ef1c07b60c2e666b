/** What --json prints: one JSON document on standard output, and nothing else there. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A command's outcome: with --json its JSON document on standard output, else the sentence for people on standard error. */
export function printOutcome(asJson: boolean, value: unknown, sentence: string): void {
  if (asJson) printJson(value);
  else process.stderr.write(`${sentence}\n`);
}

/** Prints rows as JSON (--json: one array, the whole list) or as an aligned table for people. */
export function printRows(rows: Record<string, unknown>[], columns: string[], asJson: boolean): void {
  if (asJson) {
    printJson(rows);
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

/**
 * A secret goes alone on the last line of standard output; explanations go to
 * standard error. With --json, the created thing, its secret among its fields,
 * is the JSON document on standard output.
 */
export function printSecret(explanation: string, secret: string, json?: unknown): void {
  if (json !== undefined) {
    printJson(json);
    return;
  }
  process.stderr.write(`${explanation}\n`);
  process.stdout.write(`${secret}\n`);
}
