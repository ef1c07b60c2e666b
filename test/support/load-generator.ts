/**
 * A closed-loop load generator: N workers, each running one step after
 * another (a step sends one or a few requests and waits for their answers),
 * until the time is up; and the tally of what came back, per kind of request.
 * Closed loop: the offered load is whatever the server answers, so its
 * highest sustained rate is where adding workers no longer adds answers.
 */

export interface LoadTally {
  /** Answers per kind, then per status. */
  readonly statuses: Map<string, Map<number, number>>;
  /** Latencies in ms per kind. */
  readonly latencies: Map<string, number[]>;
  /** Answers per whole second since the tally was made: the rate over time. */
  readonly perSecond: number[];
  record(kind: string, status: number, latencyMs: number): void;
  total(): number;
  count(kind: string, status?: number): number;
}

export function createLoadTally(): LoadTally {
  const statuses = new Map<string, Map<number, number>>();
  const latencies = new Map<string, number[]>();
  const perSecond: number[] = [];
  const startedAt = performance.now();
  return {
    statuses,
    latencies,
    perSecond,
    record(kind, status, latencyMs) {
      const second = Math.floor((performance.now() - startedAt) / 1000);
      while (perSecond.length <= second) perSecond.push(0);
      perSecond[second] = (perSecond[second] ?? 0) + 1;
      const byStatus = statuses.get(kind) ?? new Map<number, number>();
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      statuses.set(kind, byStatus);
      const kindLatencies = latencies.get(kind) ?? [];
      kindLatencies.push(latencyMs);
      latencies.set(kind, kindLatencies);
    },
    total() {
      let sum = 0;
      for (const byStatus of statuses.values()) for (const count of byStatus.values()) sum += count;
      return sum;
    },
    count(kind, status) {
      const byStatus = statuses.get(kind);
      if (!byStatus) return 0;
      if (status !== undefined) return byStatus.get(status) ?? 0;
      let sum = 0;
      for (const count of byStatus.values()) sum += count;
      return sum;
    },
  };
}

/** Runs `workers` loops of `step` for `durationMs`; resolves with the wall time taken (the last steps finish after the deadline). */
export async function runClosedLoop({
  workers,
  durationMs,
  step,
}: {
  workers: number;
  durationMs: number;
  step: () => Promise<void>;
}): Promise<{ elapsedMs: number }> {
  const startedAt = performance.now();
  const deadline = startedAt + durationMs;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) await step();
    }),
  );
  return { elapsedMs: performance.now() - startedAt };
}

export function percentile(values: number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] as number;
}

/** One line per kind: rate, statuses, latency p50/p99/max. */
export function describeTally(tally: LoadTally, elapsedMs: number): string[] {
  const seconds = elapsedMs / 1000;
  return [...tally.statuses.keys()].sort().map((kind) => {
    const byStatus = [...(tally.statuses.get(kind) ?? new Map()).entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status}×${count}`)
      .join(' ');
    const latencies = tally.latencies.get(kind) ?? [];
    const rate = (tally.count(kind) / seconds).toFixed(1);
    const latency = [0.5, 0.99].map((fraction) => percentile(latencies, fraction).toFixed(0)).join('/');
    return `${kind.padEnd(22)} ${rate.padStart(7)}/s  ${byStatus.padEnd(28)} p50/p99/max ${latency}/${Math.max(...latencies).toFixed(0)} ms`;
  });
}
