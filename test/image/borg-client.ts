import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { SYSTEM_PATH } from '../support/system-path.js';

/**
 * This machine playing a backed-up VM: its own home (a temporary directory,
 * never root's), the real ssh-keygen, curl and borg 1.2 of this host.
 */

export interface CommandOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** `ssh-keygen -t ed25519` into `path`; returns the fingerprint as `ssh-keygen -lf` prints it. */
export async function generateKey(path: string): Promise<{ publicKey: string; fingerprint: string }> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'image-test', '-f', path], {
    env: { PATH: SYSTEM_PATH },
    extendEnv: false,
  });
  return { publicKey: (await readFile(`${path}.pub`, 'utf8')).trim(), fingerprint: await fingerprintOf(`${path}.pub`) };
}

export async function fingerprintOf(publicKeyPath: string): Promise<string> {
  const listed = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyPath], { env: { PATH: SYSTEM_PATH }, extendEnv: false });
  const fingerprint = String(listed.stdout).split(' ')[1];
  if (!fingerprint?.startsWith('SHA256:')) throw new Error(`ssh-keygen -lf printed ${listed.stdout}`);
  return fingerprint;
}

/**
 * The shell lines enroll.sh prints once approved (`export BORG_REPO='…'` and
 * `export BORG_RSH='…'`), evaluated by sh as a user pastes them, and the
 * resulting values read back.
 */
export async function evaluateBorgSettings(scriptOutput: string): Promise<{ BORG_REPO: string; BORG_RSH: string }> {
  const evaluated = await execa('sh', ['-c', 'eval "$1" && printf "%s\\n%s\\n" "$BORG_REPO" "$BORG_RSH"', 'sh', scriptOutput], {
    env: { PATH: SYSTEM_PATH },
    extendEnv: false,
  });
  const [repository, remoteShell] = String(evaluated.stdout).split('\n');
  if (!repository || !remoteShell) throw new Error(`the script's output set no BORG_REPO/BORG_RSH:\n${scriptOutput}`);
  return { BORG_REPO: repository, BORG_RSH: remoteShell };
}

export interface BorgClient {
  run(args: string[], options?: { cwd?: string }): Promise<CommandOutput>;
  /** Archive names of the repository in BORG_REPO (or `repository`). */
  listArchives(repository?: string): Promise<string[]>;
}

/**
 * borg with a minimal environment: HOME, a private BORG_BASE_DIR (keys, cache,
 * security records) and whatever settings the VM was given.
 */
export function borgClient(home: string, settings: Record<string, string>): BorgClient {
  const environment = { PATH: SYSTEM_PATH, HOME: home, LANG: 'C.UTF-8', BORG_BASE_DIR: join(home, 'borg-base'), ...settings };
  const run = async (args: string[], options: { cwd?: string } = {}) => {
    await mkdir(home, { recursive: true, mode: 0o700 });
    const result = await execa('borg', args, {
      env: environment,
      extendEnv: false,
      reject: false,
      timeout: 300_000,
      cwd: options.cwd ?? home,
    });
    if (result.failed) throw new Error(`${result.shortMessage}\n${result.stderr}\n${result.stdout}`);
    return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
  };
  return {
    run,
    async listArchives(repository?: string) {
      const listed = await run(['list', '--short', ...(repository ? [repository] : [])]);
      return listed.stdout.split('\n').filter(Boolean);
    },
  };
}

/** A small tree worth backing up: text, binary, nested, a name with spaces, an empty file. */
export async function writeSampleTree(root: string, seed: string): Promise<void> {
  await mkdir(join(root, 'nested/deeper'), { recursive: true });
  await writeFile(join(root, 'notes.txt'), `backed up by the image test, ${seed}\n`);
  await writeFile(
    join(root, 'nested/random.bin'),
    Buffer.from(Array.from({ length: 200_000 }, (_, index) => (index * 31 + seed.length) % 256)),
  );
  await writeFile(join(root, 'nested/deeper/with spaces.txt'), `${seed}\n`.repeat(100));
  await writeFile(join(root, 'empty'), '');
}

/** Every file under `root` (relative path → content), to compare a restore with its source. */
export async function readTree(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(root, path), (await readFile(path)).toString('base64'));
  }
  return new Map([...files.entries()].sort(([left], [right]) => left.localeCompare(right)));
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
