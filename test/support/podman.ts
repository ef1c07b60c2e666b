import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';

/**
 * Podman for the image tests: every call passes the project's own
 * containers.conf (runc, explicit ulimits) through CONTAINERS_CONF, so the
 * machine's /etc/containers is never read for those settings nor written.
 */

export const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CONTAINERS_CONF = fileURLToPath(new URL('../image/containers.conf', import.meta.url));

/** What podman and podman-compose need besides the caller's environment. */
export const PODMAN_ENVIRONMENT = {
  CONTAINERS_CONF,
  // podman-compose builds through buildah: the OCI format would drop HEALTHCHECK.
  BUILDAH_FORMAT: 'docker',
};

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs podman with arguments; a non-zero exit throws unless `reject: false`. */
export async function podman(
  args: string[],
  options: { reject?: boolean; timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<CommandResult> {
  const execaOptions: Options = {
    env: PODMAN_ENVIRONMENT,
    reject: options.reject ?? true,
    timeout: options.timeoutMs ?? 120_000,
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  };
  const result = await execa('podman', args, execaOptions);
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** A short random id, so names of containers and volumes never clash with another run's. */
export function uniqueRunId(): string {
  return randomBytes(4).toString('hex');
}

/** A TCP port free on 127.0.0.1 now (the kernel picks it); several at once are distinct. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let index = 0; index < count; index += 1) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port from listen(0)');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Whether something can listen on this port on all addresses (IPv4 and IPv6) right now. */
export async function isPortFreeOnAllAddresses(port: number): Promise<boolean> {
  for (const host of ['0.0.0.0', '::']) {
    const server = createServer();
    const isFree = await new Promise<boolean>((resolve) => {
      server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EAFNOSUPPORT'));
      server.listen({ port, host, ipv6Only: host === '::' }, () => resolve(true));
    });
    await new Promise((resolve) => server.close(resolve));
    if (!isFree) return false;
  }
  return true;
}

/**
 * Things to undo after a test file, newest first, each attempted even when
 * another fails; failures are reported together at the end.
 */
export function createCleanup() {
  const steps: { description: string; undo: () => Promise<unknown> }[] = [];
  return {
    defer(description: string, undo: () => Promise<unknown>): void {
      steps.push({ description, undo });
    },
    async run(): Promise<void> {
      const failures: string[] = [];
      for (const step of steps.splice(0).reverse()) {
        try {
          await step.undo();
        } catch (error) {
          failures.push(`${step.description}: ${(error as Error).message}`);
        }
      }
      if (failures.length > 0) throw new Error(`cleanup failed:\n${failures.join('\n')}`);
    },
  };
}

export type Cleanup = ReturnType<typeof createCleanup>;

export async function removeContainer(name: string): Promise<void> {
  // `--ignore`: the container may never have been created.
  await podman(['rm', '--force', '--ignore', '--time', '0', name]);
}

export async function removeVolume(name: string): Promise<void> {
  const exists = await podman(['volume', 'exists', name], { reject: false });
  if (exists.exitCode === 0) await podman(['volume', 'rm', '--force', name]);
}

export async function createVolume(name: string, cleanup: Cleanup): Promise<string> {
  cleanup.defer(`remove volume ${name}`, () => removeVolume(name));
  await podman(['volume', 'create', name]);
  return name;
}

export interface RunOptions {
  name: string;
  image: string;
  /** host port on 127.0.0.1 → container port */
  ports: Record<number, number>;
  /** source (volume name or absolute host path) → container path, with optional `:ro` suffix in the target */
  mounts: Record<string, string>;
  environment: Record<string, string>;
}

/** `podman run -d` with loopback-published ports; the container is removed by `cleanup`. */
export async function runContainer(options: RunOptions, cleanup: Cleanup): Promise<string> {
  cleanup.defer(`remove container ${options.name}`, () => removeContainer(options.name));
  const args = ['run', '--detach', '--name', options.name];
  for (const [hostPort, containerPort] of Object.entries(options.ports)) args.push('--publish', `127.0.0.1:${hostPort}:${containerPort}`);
  for (const [source, target] of Object.entries(options.mounts)) args.push('--volume', `${source}:${target}`);
  for (const [key, value] of Object.entries(options.environment)) args.push('--env', `${key}=${value}`);
  args.push(options.image);
  await podman(args);
  return options.name;
}

export async function containerLogs(name: string): Promise<string> {
  const logs = await podman(['logs', name], { reject: false });
  return `${logs.stdout}${logs.stderr}`;
}

export async function inspectContainer(name: string, format: string): Promise<string> {
  return (await podman(['inspect', '--type', 'container', '--format', format, name])).stdout.trim();
}

/**
 * Runs the image's HEALTHCHECK with `podman healthcheck run` until it passes
 * (without systemd, podman never runs it by itself), then returns the health
 * status podman records. Fails early, with the logs, if the container stops.
 */
export async function waitUntilHealthy(name: string, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let lastOutput = '';
  while (Date.now() < deadline) {
    const check = await podman(['healthcheck', 'run', name], { reject: false });
    if (check.exitCode === 0) return inspectContainer(name, '{{.State.Health.Status}}');
    lastOutput = `${check.stdout}${check.stderr}`.trim();
    if ((await inspectContainer(name, '{{.State.Running}}')) !== 'true') {
      throw new Error(`container ${name} stopped before it was healthy; its log:\n${tail(await containerLogs(name), 60)}`);
    }
    await sleep(1000);
  }
  throw new Error(
    `container ${name} not healthy after ${timeoutMs} ms (last check: ${lastOutput}); its log:\n${tail(await containerLogs(name), 60)}`,
  );
}

/** `podman exec NAME …` as root in the container. */
export async function execInContainer(name: string, command: string[], options: { input?: string } = {}): Promise<CommandResult> {
  return podman(['exec', ...(options.input === undefined ? [] : ['--interactive']), name, ...command], options);
}

export function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
