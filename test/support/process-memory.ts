import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The resident memory of processes over time, read from /proc/PID/status
 * (VmRSS), for the load test's leak check: one sample of every watched
 * process per tick, and the series as CSV.
 */

export interface RssSample {
  /** Milliseconds since the sampler started. */
  atMs: number;
  /** VmRSS in bytes per watched name; undefined once the process is gone. */
  rssBytes: Record<string, number | undefined>;
}

export interface RssSampler {
  readonly samples: RssSample[];
  stop(): void;
}

/** VmRSS of a process in bytes, or undefined when it no longer runs. */
export function readRssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kibibytes = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kibibytes === undefined ? undefined : Number(kibibytes) * 1024;
  } catch {
    return undefined;
  }
}

/** Samples every `intervalMs` (and once at once), until stopped. */
export function startRssSampler(pids: Record<string, number>, intervalMs = 1000): RssSampler {
  const samples: RssSample[] = [];
  const startedAt = performance.now();
  const sample = () => {
    const rssBytes: Record<string, number | undefined> = {};
    for (const [name, pid] of Object.entries(pids)) rssBytes[name] = readRssBytes(pid);
    samples.push({ atMs: Math.round(performance.now() - startedAt), rssBytes });
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    samples,
    stop: () => clearInterval(timer),
  };
}

/** The series of one process in MiB, one decimal. */
export function seriesInMebibytes(samples: RssSample[], name: string): number[] {
  return samples.map((sample) => Math.round(((sample.rssBytes[name] ?? Number.NaN) / 2 ** 20) * 10) / 10);
}

export async function writeRssCsv(path: string, samples: RssSample[], phaseOf: (atMs: number) => string): Promise<void> {
  const names = Object.keys(samples[0]?.rssBytes ?? {});
  const lines = [
    ['seconds', 'phase', ...names.map((name) => `${name}_rss_kib`)].join(','),
    ...samples.map((sample) =>
      [
        (sample.atMs / 1000).toFixed(1),
        phaseOf(sample.atMs),
        ...names.map((name) => {
          const bytes = sample.rssBytes[name];
          return bytes === undefined ? '' : String(bytes / 1024);
        }),
      ].join(','),
    ),
  ];
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${lines.join('\n')}\n`);
}

export interface FlatnessVerdict {
  isFlat: boolean;
  /** Highest of the middle third, after warm-up. */
  middleMaxBytes: number;
  /** Lowest of the last third. */
  lastMinBytes: number;
  allowedBytes: number;
}

/**
 * "Flat after warm-up", as a leak check rather than a timing threshold: the
 * first third of the series is warm-up; even the lowest sample of the last
 * third may exceed the highest of the middle third by `relativeMargin` plus
 * `absoluteMarginBytes`, no more. A leak raises the floor: memory the process
 * holds for good. A peak is not one: V8 lets its heap grow between
 * collections, and further on a busy machine where the collector gets little
 * time (a 15 s run on a loaded machine peaked at 1.7 times its middle third,
 * and came down again in the long runs).
 */
export function judgeFlatness(
  seriesBytes: number[],
  { relativeMargin = 0.25, absoluteMarginBytes = 20 * 2 ** 20 }: { relativeMargin?: number; absoluteMarginBytes?: number } = {},
): FlatnessVerdict {
  if (seriesBytes.length < 3) throw new Error(`too few RSS samples to judge (${seriesBytes.length})`);
  const third = Math.floor(seriesBytes.length / 3);
  const middle = seriesBytes.slice(third, 2 * third);
  const last = seriesBytes.slice(2 * third);
  const middleMaxBytes = Math.max(...middle);
  const lastMinBytes = Math.min(...last);
  const allowedBytes = middleMaxBytes * (1 + relativeMargin) + absoluteMarginBytes;
  return { isFlat: lastMinBytes <= allowedBytes, middleMaxBytes, lastMinBytes, allowedBytes };
}
