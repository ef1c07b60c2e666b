import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, type TestContext } from 'vitest';
import { type ServerSandbox, startServerSandbox, stopServerSandbox } from './sandbox-api.js';
import type { BorgClient } from './sandbox-client.js';

/**
 * One real server per attack file (attacks that do not interfere share it).
 * useAttackServer registers the hooks: the server starts before the file's own
 * beforeAll hooks and stops after its own afterAll hooks (vitest runs afterAll
 * hooks in reverse order), with the system tests' checks (nothing left
 * running, no sshd outliving its sandbox). Returns an accessor for it.
 */
export function useAttackServer(): () => ServerSandbox {
  let server: ServerSandbox | undefined;
  let hasFailed = false;
  beforeAll(async () => {
    server = await startServerSandbox();
  });
  afterEach((context) => {
    if (context.task.result?.state === 'fail') hasFailed = true;
  });
  afterAll(async () => {
    const context = { task: { name: 'attack file', result: { state: hasFailed ? 'fail' : 'pass' } } } as unknown as TestContext;
    await stopServerSandbox(server, context);
  });
  return () => {
    if (!server) throw new Error('the attack server did not start');
    return server;
  };
}

/** The host's UID on the server, from the admin API. */
export async function hostUid(server: ServerSandbox, name: string): Promise<number> {
  const response = await server.api.request<{ uid: number }>('GET', `/v1/admin/hosts/${name}`, { bearer: server.api.adminToken });
  if (response.status !== 200) throw new Error(`GET /v1/admin/hosts/${name} answered ${response.status}`);
  return response.body.uid;
}

/** `sha256sum` of every file below `directory` inside the sandbox, sorted: a fingerprint of a repository. */
export async function treeDigest(server: ServerSandbox, directory: string): Promise<string> {
  const result = await server.sandbox.exec(['sh', '-c', 'cd "$1" && find . -type f -exec sha256sum {} + | sort -k 2', 'digest', directory]);
  return result.stdout;
}

/**
 * A directory in this machine's /tmp that any account may write to (the
 * sandbox shares /tmp): where an attack that got through would leave a trace.
 */
export async function createWorldWritableDir(label: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = `/tmp/attack-${label}-${randomBytes(6).toString('hex')}`;
  await mkdir(path);
  await chmod(path, 0o1777);
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A borg run with a fresh BORG_BASE_DIR: no cache, no security records, as an admin on another machine would. */
export function freshBorgBaseDir(client: BorgClient, label: string): Record<string, string> {
  return { BORG_BASE_DIR: `${client.dir}/borg-${label}-${randomBytes(4).toString('hex')}` };
}
