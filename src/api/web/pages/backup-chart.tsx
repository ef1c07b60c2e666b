import type { HostSessionRow } from '../../../host-records/host-sessions.js';
import { humanBytes, utcTime } from '../format.js';

const WIDTH = 600;
const HEIGHT = 140;
const BASELINE = 120;

/**
 * The host's recent sessions as bars, oldest on the left: the height is the
 * data the session added (its blocks), red for a session that aborted.
 * Plain SVG attributes: the page's CSP allows no inline style.
 */
export function BackupChart({ sessions }: { sessions: HostSessionRow[] }) {
  if (sessions.length === 0) return <p class="muted">No sessions recorded yet.</p>;
  const chronological = [...sessions].reverse();
  const largest = Math.max(1, ...chronological.map((session) => Math.max(0, session.bytesAdded)));
  const slot = WIDTH / Math.max(chronological.length, 10);
  return (
    <svg class="chart" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`Data added by the last ${sessions.length} sessions`}>
      <line class="axis" x1={0} y1={BASELINE} x2={WIDTH} y2={BASELINE} />
      {chronological.map((session, index) => {
        const height = Math.max(2, (Math.max(0, session.bytesAdded) / largest) * (BASELINE - 10));
        return (
          <rect
            class={session.outcome === 'aborted' ? 'bar bad' : 'bar'}
            data-outcome={session.outcome}
            x={index * slot + slot * 0.15}
            y={BASELINE - height}
            width={slot * 0.7}
            height={height}
          >
            <title>{`${utcTime(session.startedAt)}: ${session.outcome}, ${humanBytes(session.bytesAdded)} added`}</title>
          </rect>
        );
      })}
      <text x={0} y={HEIGHT - 4}>
        {utcTime(chronological[0]?.startedAt ?? new Date())}
      </text>
      <text x={WIDTH} y={HEIGHT - 4} text-anchor="end">
        {utcTime(chronological.at(-1)?.startedAt ?? new Date())}
      </text>
      <text x={0} y={10}>
        {`max ${humanBytes(largest)}`}
      </text>
    </svg>
  );
}
