import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cacheStatements } from '../../../src/db/statement-cache.js';

function openClient(maxStatements?: number) {
  const client = new Database(':memory:');
  cacheStatements(client, maxStatements);
  client.exec('create table t (a integer); insert into t values (1), (2)');
  return client;
}

describe('cacheStatements', () => {
  it('hands back the statement it prepared before for the same SQL', () => {
    const client = openClient();
    expect(client.prepare('select a from t')).toBe(client.prepare('select a from t'));
    expect(client.prepare('select a from t where a = ?')).not.toBe(client.prepare('select a from t'));
  });

  it('hands a statement left in raw mode back in object mode', () => {
    const client = openClient();
    expect(client.prepare('select a from t order by a').raw().get()).toEqual([1]);
    expect(client.prepare('select a from t order by a').get()).toEqual({ a: 1 });
  });

  it('gives a new statement while the cached one is still iterating', () => {
    const client = openClient();
    const first = client.prepare('select a from t order by a');
    const rows = first.iterate();
    rows.next();
    const second = client.prepare('select a from t order by a');
    expect(second).not.toBe(first);
    expect(second.all()).toEqual([{ a: 1 }, { a: 2 }]);
    rows.return?.();
  });

  it('keeps at most the given number of statements, dropping the least recently used', () => {
    const client = openClient(2);
    const one = client.prepare('select 1');
    const two = client.prepare('select 2');
    client.prepare('select 1');
    client.prepare('select 3');
    expect(client.prepare('select 1')).toBe(one);
    expect(client.prepare('select 2')).not.toBe(two);
  });
});
