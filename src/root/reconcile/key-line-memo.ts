import { type KeyLineHost, renderAuthorizedKeysLine } from '../../domain/authorized-keys.js';

/**
 * The key lines reconcile rendered, with every value each was made of: a
 * pass after one approval renders (parses the key, hashes it) for the changed
 * host only, not again for every host. A value is the same only when it is
 * identical (===, so of the same type: a row may hold anything). What a pass
 * did not ask for is forgotten at the end of the next one, so it holds about
 * two entries a host. A line that could not be rendered is remembered as its
 * error and thrown again. A fresh memo (at start, on SIGHUP) renders every
 * line again.
 */
export interface KeyLineMemo {
  /** renderAuthorizedKeysLine, or what it gave for the same values before. */
  render(host: KeyLineHost, backupDir: string): string;
  /** One pass is over: what it did not use goes at the end of the next. */
  endPass(): void;
}

interface Rendered {
  host: KeyLineHost;
  backupDir: string;
  result: string | Error;
}

export function createKeyLineMemo(): KeyLineMemo {
  let current = new Map<string, Rendered>();
  let previous = new Map<string, Rendered>();
  return {
    render(host, backupDir) {
      if (typeof host.name !== 'string') return renderAuthorizedKeysLine(host, backupDir);
      // Each host has a line with --append-only and one without (a full-access window, and the check of every row).
      const key = `${host.appendOnly === true ? 'a' : host.appendOnly === false ? 'f' : '?'}${host.name}`;
      let rendered = current.get(key) ?? previous.get(key);
      if (rendered === undefined || !isSame(rendered, host, backupDir)) {
        let result: string | Error;
        try {
          result = renderAuthorizedKeysLine(host, backupDir);
        } catch (error) {
          result = error instanceof Error ? error : new Error(String(error));
        }
        rendered = { host: { ...host }, backupDir, result };
      }
      current.set(key, rendered);
      if (rendered.result instanceof Error) throw rendered.result;
      return rendered.result;
    },
    endPass() {
      previous = current;
      current = new Map();
    },
  };
}

function isSame(rendered: Rendered, host: KeyLineHost, backupDir: string): boolean {
  const before = rendered.host;
  return (
    rendered.backupDir === backupDir &&
    before.name === host.name &&
    before.keyType === host.keyType &&
    before.keyBase64 === host.keyBase64 &&
    before.appendOnly === host.appendOnly &&
    before.quotaBytes === host.quotaBytes &&
    before.allowFrom === host.allowFrom
  );
}
