import { describe, expect, it } from 'vitest';
import { createReconcileQueue, type ReconcileBatch } from '../../../../src/root/serve/reconcile-queue.js';

/** A queue whose batches are recorded and end when the test says so. */
function recordingQueue() {
  const batches: { isFull: boolean; names: string[] }[] = [];
  const ends: (() => void)[] = [];
  const queue = createReconcileQueue(
    (batch: ReconcileBatch) =>
      new Promise<void>((resolve) => {
        batches.push({ isFull: batch.isFull, names: [...batch.names] });
        ends.push(resolve);
      }),
  );
  const endNext = async () => {
    ends.shift()?.();
    // Let the queue start what waited.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { queue, batches, endNext };
}

describe('createReconcileQueue', () => {
  it('runs a request at once when nothing runs', () => {
    const { queue, batches } = recordingQueue();
    void queue.requestHost('web');
    expect(batches).toEqual([{ isFull: false, names: ['web'] }]);
  });

  it('gathers the hosts asked for while a batch runs into the next batch, after it', async () => {
    const { queue, batches, endNext } = recordingQueue();
    const first = queue.requestHost('web');
    const second = queue.requestHost('db');
    const third = queue.requestHost('mail');
    expect(second).toBe(third);
    expect(batches).toHaveLength(1);
    await endNext();
    await first;
    expect(batches).toEqual([
      { isFull: false, names: ['web'] },
      { isFull: false, names: ['db', 'mail'] },
    ]);
    await endNext();
    await third;
  });

  it('makes the next batch a full pass when any request gathered into it asks for one', async () => {
    const { queue, batches, endNext } = recordingQueue();
    void queue.requestFull();
    void queue.requestHost('web');
    const full = queue.requestFull();
    await endNext();
    expect(batches).toEqual([
      { isFull: true, names: [] },
      { isFull: true, names: ['web'] },
    ]);
    await endNext();
    await full;
  });

  it('starts the next batch after one that failed, and rejects only the failed one', async () => {
    let calls = 0;
    const queue = createReconcileQueue(async () => {
      calls += 1;
      if (calls === 1) throw new Error('failed');
    });
    const failed = queue.requestFull();
    const next = queue.requestHost('web');
    await expect(failed).rejects.toThrow('failed');
    await expect(next).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });
});
