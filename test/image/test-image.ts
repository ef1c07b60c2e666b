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

type Architecture = 'amd64' | 'arm64';
const HOST_ARCHITECTURE: Architecture = process.arch === 'arm64' ? 'arm64' : 'amd64';

function requestedArchitecture(): Architecture {
  const requested = process.env.BORG_SERVER_TEST_IMAGE_ARCH;
  if (requested === undefined || requested === '') return HOST_ARCHITECTURE;
  if (requested !== 'amd64' && requested !== 'arm64') {
    throw new Error(`BORG_SERVER_TEST_IMAGE_ARCH=${requested}: expected amd64 or arm64`);
  }
  return requested;
}

/**
 * The architecture the image is built for: this machine's, or another one named by
 * BORG_SERVER_TEST_IMAGE_ARCH and run under qemu-user-static (scripts/test-arm64).
 */
export const IMAGE_ARCHITECTURE = requestedArchitecture();
export const IS_EMULATED = IMAGE_ARCHITECTURE !== HOST_ARCHITECTURE;
/** What `uname -m` prints inside the container. */
export const IMAGE_MACHINE = IMAGE_ARCHITECTURE === 'arm64' ? 'aarch64' : 'x86_64';
/** Under emulation every instruction is translated: waits on the container get this many times longer. */
export const EMULATION_SLOWDOWN = IS_EMULATED ? 10 : 1;

export const IMAGE_TAG = IS_EMULATED ? `localhost/secure-borg-server:test-${IMAGE_ARCHITECTURE}` : 'localhost/secure-borg-server:test';
/** The stand-in of another architecture is named as Docker Hub names its official per-architecture images. */
export const BASE_IMAGE = IS_EMULATED
  ? `docker.io/${IMAGE_ARCHITECTURE === 'arm64' ? 'arm64v8' : 'amd64'}/node:24-trixie-slim`
  : 'docker.io/library/node:24-trixie-slim';
/**
 * The Dockerfile's FROM names node:24-trixie-slim; another architecture's stand-in comes in through NODE_IMAGE.
 * The build stage runs on this machine's architecture: podman 4.3 does not set BUILDPLATFORM, so it is passed.
 */
const PLATFORM_BUILD_ARGUMENTS = IS_EMULATED
  ? [
      '--platform',
      `linux/${IMAGE_ARCHITECTURE}`,
      '--build-arg',
      `NODE_IMAGE=${BASE_IMAGE}`,
      '--build-arg',
      `BUILDPLATFORM=linux/${HOST_ARCHITECTURE}`,
    ]
  : [];
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
  const built = await execa(join(REPOSITORY_ROOT, 'scripts/build-base-image.sh'), IS_EMULATED ? ['--arch', IMAGE_ARCHITECTURE] : [], {
    env: PODMAN_ENVIRONMENT,
    reject: false,
    all: true,
    timeout: 900_000 * EMULATION_SLOWDOWN,
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
      [
        'build',
        '--network',
        'host',
        '--format',
        'docker',
        ...PLATFORM_BUILD_ARGUMENTS,
        '--label',
        `${RUN_LABEL}=${runKey}`,
        '--tag',
        IMAGE_TAG,
        '.',
      ],
      { cwd: REPOSITORY_ROOT, reject: false, timeoutMs: 1_200_000 * EMULATION_SLOWDOWN },
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
