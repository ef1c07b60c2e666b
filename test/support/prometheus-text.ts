/**
 * The Prometheus text exposition format as /metrics serves it, read into its
 * metric types and samples, for the tests that hand a real scrape to promtool
 * or hold the README's metrics table against it.
 */

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  /** `name{label="value",…}` as the scrape wrote it: promtool's series notation. */
  series: string;
  value: number;
}

export interface PrometheusScrape {
  /** Metric name → its `# TYPE` (gauge, counter…), every metric the scrape declares. */
  types: Map<string, string>;
  samples: PrometheusSample[];
}

const TYPE_LINE = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/;
const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const inner = text.slice(1, -1);
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < inner.length) {
    const match = LABEL.exec(inner);
    if (!match) throw new Error(`not a label set: ${line}`);
    labels[match[1] as string] = (match[2] as string).replace(/\\(.)/g, (_, character: string) => (character === 'n' ? '\n' : character));
  }
  return labels;
}

export function parsePrometheusText(text: string): PrometheusScrape {
  const types = new Map<string, string>();
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type = TYPE_LINE.exec(line);
      if (type) types.set(type[1] as string, type[2] as string);
      continue;
    }
    const sample = SAMPLE_LINE.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const [, name = '', labelText = '', value = ''] = sample;
    samples.push({
      name,
      labels: labelText === '' ? {} : parseLabels(labelText, line),
      series: `${name}${labelText}`,
      value: Number(value),
    });
  }
  return { types, samples };
}
