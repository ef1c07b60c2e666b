// What each benchmark hands bench/run-all: one markdown section, written to
// $BENCH_RESULTS_DIR/<number>-<slug>.md (and printed), which run-all puts in
// bench/RESULTS.md in order. A figure is always this server against a baseline
// measured side by side in the same run, as a ratio, with the absolute figures.
import { mkdirSync, writeFileSync } from 'node:fs';

/**
 * @typedef {object} Figure
 * @property {string} what        e.g. 'server CPU per GiB received'
 * @property {string} server      this server's figure, with its unit
 * @property {string} baseline    the baseline's figure, with its unit ('' if none)
 * @property {string} ratio       server / baseline, e.g. '0.82 ×' ('' if none)
 * @property {string} [target]    e.g. '≤ 0.85 ×'
 * @property {boolean} [met]      whether the target was met
 */

/**
 * @param {{ number: number, slug: string, title: string, baseline: string, figures: Figure[], notes?: string[] }} section
 */
export function writeSection(section) {
  const rows = section.figures.map((figure) =>
    [
      figure.what,
      figure.server,
      figure.baseline,
      figure.ratio,
      figure.target ?? '',
      figure.target ? (figure.met ? 'met' : '**missed**') : '',
    ].join(' | '),
  );
  const text = [
    `## ${section.number}. ${section.title}`,
    '',
    `Baseline: ${section.baseline}`,
    '',
    '| figure | this server | baseline | ratio | target | |',
    '|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row} |`),
    '',
    ...(section.notes ?? []).flatMap((note) => [note, '']),
  ].join('\n');
  process.stdout.write(`${text}\n`);
  const dir = process.env.BENCH_RESULTS_DIR;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/${section.number}-${section.slug}.md`, text);
  }
}

/** Formats a ratio a / b as '0.82 ×'. */
export function ratio(a, b, digits = 2) {
  return `${(a / b).toFixed(digits)} ×`;
}
