import { createConnection, type Socket } from 'node:net';
import { describe, expect } from 'vitest';
import { attack } from '../support/attack-matrix.js';
import { useAttackServer } from '../support/attack-server.js';
import { isIgnoredNote, runSshAudit, summarizeSshAudit } from '../support/ssh-audit.js';

/**
 * The SSH service as anyone on the network sees it, before logging in: what
 * an external audit makes of its algorithms, and how many connections one
 * address may hold open unauthenticated.
 */

/** A TCP connection to sshd that sends nothing: what sshd said first (its banner), or that it hung up. */
interface UnauthenticatedConnection {
  /** The first line sshd sent, or what it sent before it closed the connection. */
  readonly greeting: string;
  readonly isGreeted: boolean;
  close(): void;
}

/** Resolves once sshd has sent its first line or closed the connection, whichever comes first. */
function openUnauthenticated(port: number, from: string): Promise<UnauthenticatedConnection> {
  return new Promise((resolve) => {
    let received = '';
    let isSettled = false;
    const socket: Socket = createConnection({ port, host: '127.0.0.1', localAddress: from });
    const settle = () => {
      if (isSettled) return;
      isSettled = true;
      resolve({
        greeting: received.split('\n')[0]?.trim() ?? '',
        isGreeted: received.startsWith('SSH-2.0-'),
        close: () => socket.destroy(),
      });
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\n')) settle();
    });
    socket.on('error', settle);
    socket.on('close', settle);
  });
}

describe('the SSH service before login', () => {
  const server = useAttackServer();

  describe('unauthenticated connections', () => {
    const group = 'network: ssh pre-auth';

    attack(group, 'hold 15 unauthenticated connections open from one address', async () => {
      const port = server().sandbox.sshPort;
      const held: UnauthenticatedConnection[] = [];
      try {
        // One after the other: each is in sshd's table before the next one comes.
        for (let count = 0; count < 15; count += 1) held.push(await openUnauthenticated(port, '127.0.0.5'));
        const greeted = held.filter((connection) => connection.isGreeted);
        expect(greeted).toHaveLength(10);
        expect(held.slice(0, 10).every((connection) => connection.isGreeted)).toBe(true);
        const dropped = held.slice(10);
        expect(dropped.some((connection) => connection.isGreeted)).toBe(false);
        const otherAddress = await openUnauthenticated(port, '127.0.0.6');
        held.push(otherAddress);
        expect(otherAddress.isGreeted).toBe(true);
        return (
          `127.0.0.5: the first 10 got sshd's banner, the next 5 were dropped before it ("${dropped[0]?.greeting}"); ` +
          `127.0.0.6 meanwhile got "${otherAddress.greeting}"`
        );
      } finally {
        for (const connection of held) connection.close();
      }
    });
  });

  describe('algorithms', () => {
    const group = 'network: ssh audit';

    attack(group, "audit sshd's algorithms with ssh-audit (weak key exchange, host key, cipher or MAC)", async () => {
      const report = await runSshAudit('127.0.0.1', server().sandbox.sshPort);
      const findings = report.notes.filter((note) => note.level !== 'info' && !isIgnoredNote(note));
      expect(findings, report.output).toEqual([]);
      // The offered names themselves, so that an ssh-audit that knows less than it should cannot pass them unseen.
      const offered = (section: string) => [
        ...new Set(report.notes.filter((note) => note.section === section).map((note) => note.algorithm)),
      ];
      expect(offered('key')).toEqual(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']);
      expect(offered('kex').filter((name) => /nistp|sha1|group14|group-exchange/.test(name))).toEqual([]);
      expect(offered('mac').every((name) => name.includes('-etm@openssh.com'))).toBe(true);
      return summarizeSshAudit(report);
    });
  });
});
