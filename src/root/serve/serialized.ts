/**
 * Runs `task` one at a time and coalesces requests: every caller waits for a
 * run that started after its request, so it sees the state it asked for.
 */
export function serialized(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  return function request() {
    if (queued) return queued;
    if (!running) {
      running = task().finally(() => {
        running = null;
      });
      return running;
    }
    queued = running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        running = task().finally(() => {
          running = null;
        });
        return running;
      });
    return queued;
  };
}
