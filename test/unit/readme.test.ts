import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * What the README says of the repository itself: the test command is the one
 * CI runs, and the security model's table of attackers names, in its last
 * column, the test that tries each attack against the real server. Those
 * names must be real files, and every file of the attack suite must have its row.
 */

const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe("the README's test command", () => {
  it('is the command .ci/run runs', () => {
    const readme = readFileSync(join(REPOSITORY_ROOT, 'README.md'), 'utf8');
    const section = readme.split(/^## Running the tests\n/m)[1]?.split(/^## /m)[0] ?? '';
    expect(section).toContain('\n    sudo scripts/test\n');
    const ciRun = readFileSync(join(REPOSITORY_ROOT, '.ci/run'), 'utf8');
    expect(ciRun.split('\n').filter((line) => line && !line.startsWith('#'))).toContain('exec scripts/test');
  });
});

function securityTableRows(): string[][] {
  const readme = readFileSync(join(REPOSITORY_ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Security model\n/m)[1]?.split(/^#{2,3} /m)[0] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| attacker |'))
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
}

describe("the README's table of attackers", () => {
  const rows = securityTableRows();

  it('has rows of five cells, each naming one test file', () => {
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) {
      expect(row, row.join(' | ')).toHaveLength(5);
      expect(row[4], row.join(' | ')).toMatch(/^`test\/[a-z-]+\/[a-z0-9-]+\.test\.ts`$/);
    }
  });

  it('names only test files that exist', () => {
    const missing = rows.map((row) => (row[4] ?? '').replaceAll('`', '')).filter((path) => !existsSync(join(REPOSITORY_ROOT, path)));
    expect(missing).toEqual([]);
  });

  it('has a row for every file of the attack suite', () => {
    const named = new Set(rows.map((row) => (row[4] ?? '').replaceAll('`', '')));
    const attackFiles = readdirSync(join(REPOSITORY_ROOT, 'test/attack'))
      .filter((file) => file.endsWith('.test.ts'))
      .map((file) => `test/attack/${file}`);
    expect(attackFiles.filter((file) => !named.has(file))).toEqual([]);
  });
});
