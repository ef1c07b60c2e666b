import type { AppEnv } from '../app-env.js';
import type { ServerContext } from '../context.js';
import { renderMetrics } from '../monitoring/metrics.js';
import { createRouteTable } from './route-table.js';

/** GET /metrics (Prometheus text), for a token of the metrics role (or admin); the caller mounts requireAdmin in front. */
export function metricsRoutes(context: ServerContext) {
  const table = createRouteTable<AppEnv>();
  table.on('GET', '/metrics', 'metrics', async (c) => {
    const { contentType, body } = await renderMetrics(context.db, context.now());
    return c.body(body, 200, { 'Content-Type': contentType });
  });
  return table;
}
