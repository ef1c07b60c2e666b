import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { it } from 'vitest';

/**
 * The attack matrix: every attack test records one row (the group, the attack,
 * whether it was refused, and the evidence), appended as a JSON line to the file
 * the attack suite's global setup names in ATTACK_MATRIX_FILE. The global
 * teardown prints the rows as one table. The rows summarise; the assertions in
 * each test are the proof, and a test whose attack was not refused fails.
 */

export const ATTACK_MATRIX_VARIABLE = 'ATTACK_MATRIX_FILE';

export interface AttackRow {
  group: string;
  attack: string;
  refused: boolean;
  evidence: string;
}

export function recordAttack(row: AttackRow): void {
  const path = process.env[ATTACK_MATRIX_VARIABLE];
  if (!path) return;
  // One short write with O_APPEND: rows of concurrent workers never interleave.
  appendFileSync(path, `${JSON.stringify(row)}\n`);
}

export async function readAttackRows(path: string): Promise<AttackRow[]> {
  const content = await readFile(path, 'utf8').catch(() => '');
  return content
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AttackRow);
}

/**
 * The table the global teardown prints, ending with `attack matrix: N refused, M not refused`.
 * With `withEvidence` (ATTACK_MATRIX_EVIDENCE=1), each row is followed by its evidence.
 */
export function renderAttackMatrix(rows: AttackRow[], withEvidence = false): string {
  const sorted = [...rows].sort((a, b) => a.group.localeCompare(b.group));
  const groupWidth = Math.max(5, ...sorted.map((row) => row.group.length));
  const attackWidth = Math.min(110, Math.max(6, ...sorted.map((row) => row.attack.length)));
  const verdict = (row: AttackRow) => (row.refused ? 'REFUSED' : 'NOT REFUSED');
  const lines = [
    `${'group'.padEnd(groupWidth)}  ${'attack'.padEnd(attackWidth)}  result`,
    `${'-'.repeat(groupWidth)}  ${'-'.repeat(attackWidth)}  -----------`,
    ...sorted.flatMap((row) => [
      `${row.group.padEnd(groupWidth)}  ${row.attack.padEnd(attackWidth)}  ${verdict(row)}`,
      ...(withEvidence ? [`${' '.repeat(groupWidth + 2)}  ↳ ${row.evidence}`] : []),
    ]),
  ];
  const notRefused = sorted.filter((row) => !row.refused);
  for (const row of notRefused) lines.push(`NOT REFUSED: ${row.group} / ${row.attack}: ${row.evidence}`);
  lines.push(`attack matrix: ${sorted.length - notRefused.length} refused, ${notRefused.length} not refused`);
  return lines.join('\n');
}

/**
 * One attack, one test, one row. `body` tries the attack against the real server
 * and asserts that it was refused; it returns the evidence for the matrix. An
 * assertion that fails (the attack got through) records NOT REFUSED and fails the test.
 */
export function attack(group: string, name: string, body: () => Promise<string>, timeoutMs = 110_000): void {
  it(
    name,
    async () => {
      let evidence: string;
      let timer: NodeJS.Timeout | undefined;
      try {
        // Own deadline, before vitest's: a test that hangs still gets its row.
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the attack did not finish within ${timeoutMs} ms`)), timeoutMs);
        });
        evidence = await Promise.race([body(), deadline]);
      } catch (error) {
        recordAttack({ group, attack: name, refused: false, evidence: firstLine(error) });
        throw error;
      } finally {
        clearTimeout(timer);
      }
      recordAttack({ group, attack: name, refused: true, evidence });
    },
    timeoutMs + 10_000,
  );
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]?.slice(0, 300) ?? '';
}
