/** What a batch of reconcile requests asks for: a full pass, or passes for these hosts only. */
export interface ReconcileBatch {
  isFull: boolean;
  names: Set<string>;
}

export interface ReconcileQueue {
  /** A full pass: every row, file and account. */
  requestFull(): Promise<void>;
  /** A pass for the host `name`, whose row root has just changed (or a full pass, which covers it). */
  requestHost(name: string): Promise<void>;
}

/**
 * Runs reconcile batches one at a time, as `serialized` does (serialized.ts):
 * every caller waits for a batch that started after its request, so it sees
 * the state it asked for. Requests that arrive while a batch runs are
 * gathered into the next one: the hosts named, or a full pass if any request
 * asked for one (it covers every host).
 */
export function createReconcileQueue(run: (batch: ReconcileBatch) => Promise<void>): ReconcileQueue {
  let running: Promise<void> | null = null;
  let queued: { batch: ReconcileBatch; done: Promise<void> } | null = null;

  function start(batch: ReconcileBatch): Promise<void> {
    const done = run(batch).finally(() => {
      running = null;
    });
    running = done;
    return done;
  }

  function request(isFull: boolean, name?: string): Promise<void> {
    if (queued) {
      if (isFull) queued.batch.isFull = true;
      if (name !== undefined) queued.batch.names.add(name);
      return queued.done;
    }
    const batch: ReconcileBatch = { isFull, names: new Set(name === undefined ? [] : [name]) };
    if (!running) return start(batch);
    const done = running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return start(batch);
      });
    queued = { batch, done };
    return done;
  }

  return {
    requestFull: () => request(true),
    requestHost: (name) => request(false, name),
  };
}
