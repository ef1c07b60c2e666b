import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACK_MATRIX_VARIABLE, readAttackRows, renderAttackMatrix } from '../support/attack-matrix.js';
import setUpSystemTests from '../system/global-setup.js';

/**
 * Once per run of the attack suite: what the system tests check and build
 * (root, the commands, `npm run build`, no sshd left behind afterwards), plus
 * the attack matrix: a file every test appends its row to, printed as one
 * table when the run ends.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const checkSshd = await setUpSystemTests();
  const matrixDir = await mkdtemp(join(tmpdir(), 'attack-matrix-'));
  const matrixFile = join(matrixDir, 'rows.jsonl');
  // Test workers inherit this variable.
  process.env[ATTACK_MATRIX_VARIABLE] = matrixFile;

  return async function printAttackMatrix() {
    const rows = await readAttackRows(matrixFile);
    await rm(matrixDir, { recursive: true, force: true });
    console.log(`\n${renderAttackMatrix(rows, process.env.ATTACK_MATRIX_EVIDENCE === '1')}\n`);
    await checkSshd();
  };
}
