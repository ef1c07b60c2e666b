import { asExpectedError } from '../../errors.js';
import { readServerVersion } from '../../state-archive/server-version.js';
import { apiStateImport, exportApiState, importApiState } from './api-state-copy.js';

/**
 * Run by root as the API user (src/root/state-backup/), never by an admin:
 *   node main.js export STATE_DIR   prints the API's part of a state copy, base64, on standard output
 *   node main.js import TARGET_DIR  reads such a part (base64) and root's host rows, as JSON on standard input, and writes it into TARGET_DIR
 * Base64 because root's runner carries text; root stores the decoded bytes as they are, without reading them.
 */
const [action, directory] = process.argv.slice(2);
try {
  if (action === 'export' && directory) {
    const archive = await exportApiState(directory, { serverVersion: readServerVersion(), now: new Date() });
    process.stdout.write(archive.toString('base64'));
  } else if (action === 'import' && directory) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    importApiState(apiStateImport.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))), directory);
  } else {
    process.stderr.write('usage: main.js export STATE_DIR | import TARGET_DIR\n');
    process.exitCode = 2;
  }
} catch (error) {
  // Root shows this line to the admin: the reason, not a stack.
  const expected = asExpectedError(error);
  process.stderr.write(`${expected ? expected.message : ((error as Error).stack ?? String(error))}\n`);
  process.exitCode = 1;
}
