import { Hono } from 'hono';
import type { AppEnv } from '../app-env.js';
import type { ServerContext } from '../context.js';
import { renderMetrics } from '../monitoring/metrics.js';

/** GET /metrics (Prometheus text); the caller mounts requireAdmin in front. */
export function metricsRoutes(context: ServerContext) {
  const app = new Hono<AppEnv>();
  app.get('/metrics', async (c) => {
    const { contentType, body } = await renderMetrics(context.db, context.now());
    return c.body(body, 200, { 'Content-Type': contentType });
  });
  return app;
}
