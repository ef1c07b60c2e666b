import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { execa } from 'execa';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTestApi } from '../support/fixture-hooks.js';

/**
 * What a user of the API does with /v1/openapi.json: generate a typed client
 * from it (openapi-typescript, the types; openapi-fetch, the calls), compile a
 * program against those types with TypeScript's strict checks, and run it
 * against the server over HTTP.
 */

const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

/** A program as a user writes it against the generated types. */
const CLIENT_PROGRAM = `
import createClient from 'openapi-fetch';
import type { paths } from './api.js';

const [baseUrl, token] = process.argv.slice(2) as [string, string];
const client = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${token}\` } });

const minted = await client.POST('/v1/admin/tokens', { body: { host: 'web1', ttl: '1h', appendOnly: true } });
if (minted.data === undefined) throw new Error(\`mint refused: \${minted.error.message}\`);
const command: string = minted.data.command;

const tokens = await client.GET('/v1/admin/tokens', { params: { query: { limit: 10 } } });
const jtis: string[] = (tokens.data?.tokens ?? []).map((listed) => listed.jti);

const missing = await client.GET('/v1/admin/hosts/{name}', { params: { path: { name: 'nowhere' } } });
const refusal: string | undefined = missing.error?.error;

console.log(JSON.stringify({ jti: minted.data.jti, command, jtis, refusal, missingStatus: missing.response.status }));
`;

/** The same client misused: a path the API does not have, a body field of the wrong type, an answer field it does not give. */
const MISUSING_PROGRAM = `
import createClient from 'openapi-fetch';
import type { paths } from './api.js';

const client = createClient<paths>({ baseUrl: 'https://backup.example.test' });
export const unknownPath = await client.GET('/v1/admin/nowhere', {}); // misuse
export const wrongType = await client.POST('/v1/admin/tokens', { body: { host: 'web1', appendOnly: 'yes' } }); // misuse
const minted = await client.POST('/v1/admin/tokens', { body: { host: 'web1' } });
export const unknownField: string | undefined = minted.data?.secret; // misuse
`;

/** TypeScript's errors for these files, compiled strictly against the generated types. */
function typeErrors(directory: string, files: string[]): string[] {
  const program = ts.createProgram(
    files.map((file) => join(directory, file)),
    {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: ['node'],
      typeRoots: [join(NODE_MODULES, '@types')],
      skipLibCheck: true,
    },
  );
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const line =
      diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
    const text = diagnostic.file?.text.split('\n')[line] ?? '';
    return `${diagnostic.file?.fileName ?? ''}:${line + 1}: ${text.trim()}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
  });
}

const api = useTestApi();
let directory: string;
let server: ServerType | undefined;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sbs-openapi-client-'));
  // The program's imports resolve from its own directory, as in a user's project.
  symlinkSync(NODE_MODULES, join(directory, 'node_modules'));
  writeFileSync(join(directory, 'package.json'), JSON.stringify({ type: 'module' }));
  const response = await api.app.request('/v1/openapi.json');
  writeFileSync(join(directory, 'api.d.ts'), astToString(await openapiTS(await response.json())));
});

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  rmSync(directory, { recursive: true, force: true });
});

describe('a client generated from /v1/openapi.json', () => {
  it('compiles strictly against the types, and runs against the server over HTTP', async () => {
    writeFileSync(join(directory, 'client.ts'), CLIENT_PROGRAM);
    expect(typeErrors(directory, ['client.ts', 'api.d.ts'])).toEqual([]);

    const compiled = ts.transpileModule(CLIENT_PROGRAM, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(join(directory, 'client.js'), compiled.outputText);
    const listening = await new Promise<AddressInfo>((resolve) => {
      server = serve({ fetch: api.app.fetch, hostname: '127.0.0.1', port: 0 }, resolve);
    });
    const run = await execa(process.execPath, ['client.js', `http://127.0.0.1:${listening.port}`, api.adminToken], {
      cwd: directory,
      reject: false,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { jti: string; command: string; jtis: string[]; refusal: string; missingStatus: number };
    expect(result.command).toContain('curl');
    expect(result.jtis).toContain(result.jti);
    expect(result).toMatchObject({ refusal: 'NOT_FOUND', missingStatus: 404 });
  });

  it('refuses at compile time a path the API does not have, a body field of the wrong type and an answer field it does not give', () => {
    writeFileSync(join(directory, 'misuse.ts'), MISUSING_PROGRAM);
    const errors = typeErrors(directory, ['misuse.ts', 'api.d.ts']);
    // One error on each line marked as a misuse, and none elsewhere.
    expect(errors).toHaveLength(3);
    for (const error of errors) expect(error).toContain('// misuse');
    expect(errors.join('\n')).toContain("Property 'secret' does not exist");
  });
});
