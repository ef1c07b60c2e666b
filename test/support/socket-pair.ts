import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Two ends of a real Unix socket connection, for tests of the channel between root and its peers. */
export async function connectedSocketPair(): Promise<{ near: Socket; far: Socket; remove(): void }> {
  const directory = mkdtempSync(join(tmpdir(), 'sbs-socket-pair-'));
  const path = join(directory, 'pair.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const near = connect(path);
  await new Promise<void>((resolve) => near.once('connect', resolve));
  const far = await accepted;
  server.close();
  return {
    near,
    far,
    remove() {
      near.destroy();
      far.destroy();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
