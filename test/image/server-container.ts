import { type Cleanup, execInContainer, runContainer, waitUntilHealthy } from '../support/podman.js';
import { pinnedApi, publicKeyPinOf, type ServerApi } from './server-api.js';
import { EMULATION_SLOWDOWN } from './test-image.js';

/** Where the image keeps the self-signed certificate (BORG_SERVER_STATE_DIR/tls). */
const CERTIFICATE_PATH = '/var/lib/secure-borg-server/tls/certificate.pem';

export interface ServerContainer {
  name: string;
  /** Health status podman recorded after the first passing healthcheck. */
  health: string;
  /** The pin of the certificate in the state volume, computed by the test. */
  pin: string;
  api: ServerApi;
}

export interface ServerOptions {
  name: string;
  image: string;
  sshPort: number;
  httpPort: number;
  /** source (volume name or host path) → container path (`:ro` allowed) */
  mounts: Record<string, string>;
  environment?: Record<string, string>;
}

/**
 * Runs the image with SSH and HTTPS published on loopback, waits until its
 * HEALTHCHECK passes, and reads the TLS certificate out of the state volume the
 * way an admin would, to pin every later API call to it.
 */
export async function startServer(options: ServerOptions, cleanup: Cleanup): Promise<ServerContainer> {
  const baseUrl = `https://127.0.0.1:${options.httpPort}`;
  await runContainer(
    {
      name: options.name,
      image: options.image,
      ports: { [options.sshPort]: 22, [options.httpPort]: 8080 },
      mounts: options.mounts,
      environment: {
        BORG_SERVER_PUBLIC_URL: baseUrl,
        BORG_SERVER_SSH_HOST: '127.0.0.1',
        BORG_SERVER_SSH_PUBLIC_PORT: String(options.sshPort),
        ...options.environment,
      },
    },
    cleanup,
  );
  const health = await waitUntilHealthy(options.name, 120_000 * EMULATION_SLOWDOWN);
  const certificate = await execInContainer(options.name, ['cat', CERTIFICATE_PATH]);
  const pin = publicKeyPinOf(certificate.stdout);
  return { name: options.name, health, pin, api: pinnedApi(baseUrl, pin) };
}

/** `borgctl admin-token create` in the container: the token is the last line of standard output. */
export async function createAdminToken(container: string): Promise<string> {
  const created = await execInContainer(container, ['borgctl', 'admin-token', 'create', '--label', 'image-test']);
  const token = created.stdout.trim().split('\n').at(-1) ?? '';
  if (token.length < 20) throw new Error(`borgctl admin-token create printed no token:\n${created.stdout}\n${created.stderr}`);
  return token;
}
