import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { PODMAN_ENVIRONMENT, podman, REPOSITORY_ROOT, tail } from '../support/podman.js';

/**
 * The image under test, built from the real Dockerfile once per test run:
 * the first test file that needs it builds it and labels it with the run's
 * key; the other files of the same run find that label and reuse the image.
 * Everything runs the image by ID, so a concurrent build that moves the tag
 * cannot swap the image under a running test.
 */

export const IMAGE_TAG = 'localhost/secure-borg-server:test';
export const BASE_IMAGE = 'docker.io/library/node:24-trixie-slim';
const RUN_LABEL = 'org.secure-borg-server.test-run';

export interface TestImage {
  id: string;
  sizeBytes: number;
  baseSizeBytes: number;
  /** Seconds the build took in this run. */
  buildSeconds: number;
}

/**
 * The vitest process of this run (test files run in its child processes, or in
 * its threads), named by PID and start time so that a reused PID is another run.
 */
function testRunKey(): string {
  const startTime = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19] ?? '';
  const parentCommandLine = readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8');
  const runner = parentCommandLine.includes('vitest') ? process.ppid : process.pid;
  return `${runner}-${startTime(runner)}`;
}

async function imageSize(reference: string): Promise<number> {
  return Number((await podman(['image', 'inspect', '--format', '{{.Size}}', reference])).stdout.trim());
}

/** The stand-in for node:24-trixie-slim (no registry is reachable here): scripts/build-base-image.sh, cached. */
async function ensureBaseImage(): Promise<void> {
  const exists = await podman(['image', 'exists', BASE_IMAGE], { reject: false });
  if (exists.exitCode === 0) return;
  console.log(`image: ${BASE_IMAGE} is missing; running scripts/build-base-image.sh`);
  const built = await execa(join(REPOSITORY_ROOT, 'scripts/build-base-image.sh'), [], {
    env: PODMAN_ENVIRONMENT,
    reject: false,
    all: true,
    timeout: 900_000,
  });
  if (built.exitCode !== 0) {
    throw new Error(
      `scripts/build-base-image.sh failed (exit ${built.exitCode}); run scripts/setup-podman.sh first?\n${tail(String(built.all), 40)}`,
    );
  }
}

let cached: TestImage | undefined;

export async function ensureTestImage(): Promise<TestImage> {
  if (cached) return cached;
  const hasPodman = await execa('podman', ['--version'], { reject: false });
  if (hasPodman.exitCode !== 0) throw new Error('podman is missing: run scripts/setup-podman.sh as root');
  await ensureBaseImage();

  const runKey = testRunKey();
  const labelled = await podman(['image', 'inspect', '--format', `{{.Id}} {{index .Labels "${RUN_LABEL}"}}`, IMAGE_TAG], {
    reject: false,
  });
  const [previousId, previousRunKey] = labelled.exitCode === 0 ? labelled.stdout.trim().split(' ') : [];
  let buildSeconds = 0;
  let id = previousId ?? '';
  if (previousRunKey !== runKey) {
    const startedAt = performance.now();
    const build = await podman(
      ['build', '--network', 'host', '--format', 'docker', '--label', `${RUN_LABEL}=${runKey}`, '--tag', IMAGE_TAG, '.'],
      { cwd: REPOSITORY_ROOT, reject: false, timeoutMs: 1_200_000 },
    );
    if (build.exitCode !== 0) {
      throw new Error(`podman build failed (exit ${build.exitCode}):\n${tail(`${build.stdout}\n${build.stderr}`, 60)}`);
    }
    buildSeconds = (performance.now() - startedAt) / 1000;
    console.log(`image: built ${IMAGE_TAG} from the Dockerfile in ${buildSeconds.toFixed(0)} s (once for this test run)`);
    id = (await podman(['image', 'inspect', '--format', '{{.Id}}', IMAGE_TAG])).stdout.trim();
    // The previous run's image is now untagged: remove it unless a container or another tag still uses it.
    if (previousId && previousId !== id) await podman(['image', 'rm', previousId], { reject: false });
  }
  cached = { id, sizeBytes: await imageSize(id), baseSizeBytes: await imageSize(BASE_IMAGE), buildSeconds };
  return cached;
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
