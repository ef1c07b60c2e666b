import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The project's biome.json, run by the project's Biome on files written into
 * a copy of the tree's folders: the lint is what keeps the privilege line
 * drawn in src/ (src/README.md). Root's code is src/root/, the API user's
 * src/api/, borgctl's src/cli/; the rest is shared.
 */

const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIOME = join(REPOSITORY_ROOT, 'node_modules', '.bin', 'biome');
const RULE = 'lint/style/noRestrictedImports';

/** From two folders below src/, the same path reaches root's reconcile and the API's app. */
const IMPORTS_ROOT = "import { reconcile } from '../../root/reconcile/reconcile.js';\n\nexport const pass = reconcile;\n";
const IMPORTS_API = "import { createApp } from '../../api/app.js';\n\nexport const app = createApp;\n";
const IMPORTS_EXECA = "import { execa } from 'execa';\n\nexport const start = execa;\n";

let tree: string;
beforeAll(() => {
  tree = mkdtempSync(join(tmpdir(), 'sbs-lint-'));
  copyFileSync(join(REPOSITORY_ROOT, 'biome.json'), join(tree, 'biome.json'));
});
afterAll(() => rmSync(tree, { recursive: true, force: true }));

async function lint(path: string, body: string): Promise<{ exitCode: number | undefined; output: string }> {
  mkdirSync(dirname(join(tree, path)), { recursive: true });
  writeFileSync(join(tree, path), body);
  const result = await execa(BIOME, ['lint', '--colors=off', path], { cwd: tree, reject: false, all: true, timeout: 30_000 });
  return { exitCode: result.exitCode, output: result.all ?? '' };
}

describe('the privilege line in the lint (biome.json noRestrictedImports)', () => {
  it.each([
    ['the API', 'src/api/routes/probe.ts'],
    ['the admin page', 'src/api/web/probe.ts'],
    ['shared code', 'src/host-records/probe.ts'],
  ])("refuses an import of root's code in %s", async (_side, path) => {
    const { exitCode, output } = await lint(path, IMPORTS_ROOT);
    expect(exitCode).not.toBe(0);
    expect(output).toContain(RULE);
    expect(output).toContain('src/root/ is what only root runs');
  });

  it("refuses an import of root's code in a shared module at the top of src/", async () => {
    const { exitCode, output } = await lint(
      'src/probe.ts',
      "import { serve } from './root/serve/serve.js';\n\nexport const start = serve;\n",
    );
    expect(exitCode).not.toBe(0);
    expect(output).toContain(RULE);
  });

  it.each([
    ["root's code", 'src/root/watch/probe.ts'],
    ['borgctl', 'src/cli/commands/probe.ts'],
  ])("lets %s import root's code", async (_side, path) => {
    const { exitCode, output } = await lint(path, IMPORTS_ROOT);
    expect(output).not.toContain(RULE);
    expect(exitCode).toBe(0);
  });

  it.each([
    ["root's code", 'src/root/requests/probe.ts'],
    ['shared code', 'src/channel/probe.ts'],
  ])("refuses an import of the API's code in %s", async (_side, path) => {
    const { exitCode, output } = await lint(path, IMPORTS_API);
    expect(exitCode).not.toBe(0);
    expect(output).toContain(RULE);
    expect(output).toContain('src/api/ is what only the API user runs');
  });

  it("lets borgctl import the API's code", async () => {
    const { exitCode } = await lint('src/cli/probe.ts', IMPORTS_API);
    expect(exitCode).toBe(0);
  });

  it.each(['src/api/probe.ts', 'src/root/probe.ts', 'src/cli/probe.ts', 'src/process/probe.ts'])(
    'still refuses execa in %s',
    async (path) => {
      const { exitCode, output } = await lint(path, IMPORTS_EXECA);
      expect(exitCode).not.toBe(0);
      expect(output).toContain('Start processes only through src/process/run.ts');
    },
  );

  it('still lets src/process/run.ts import execa', async () => {
    const { exitCode } = await lint('src/process/run.ts', IMPORTS_EXECA);
    expect(exitCode).toBe(0);
  });
});
