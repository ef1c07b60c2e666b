import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { FAULT_CODES, type FaultCode, faultOfErrno } from '../domain/faults.js';
import { AppError, asExpectedError, BUSY_RETRY_AFTER_SECONDS } from '../errors.js';
import { type ApiLimits, defaultLimits } from './api-limits.js';
import type { AppEnv } from './app-env.js';
import type { ServerContext } from './context.js';
import { STATUS_BY_CODE } from './error-map.js';
import { clientAddress } from './middleware/client-address.js';
import { requireAdmin } from './middleware/require-admin.js';
import { adminRoutes } from './routes/admin-routes.js';
import { enrollmentRoutes } from './routes/enrollment-routes.js';
import { maintainerRoutes } from './routes/maintainer-routes.js';
import { metricsRoutes } from './routes/metrics-routes.js';
import { buildOpenApiDocument, OPENAPI_PATH } from './routes/openapi-document.js';
import { createRouteTable, RoleRequiredError } from './routes/route-table.js';
import { serverRoutes } from './routes/server-routes.js';
import { webRoutes } from './web/web-routes.js';

export const MAX_BODY_BYTES = 32 * 1024;

/** A file-system error of the API's (it writes only the state volume) that names a fault, as its AppError. */
function faultAsError(error: unknown): AppError | null {
  const fault = faultOfErrno((error as NodeJS.ErrnoException | undefined)?.code, 'state');
  return fault ? new AppError(fault.code, fault.message) : null;
}

function isFaultCode(code: string): code is FaultCode {
  return (FAULT_CODES as readonly string[]).includes(code);
}

export interface AppOptions {
  context: ServerContext;
  limits?: ApiLimits;
  logError?: (error: unknown) => void;
}

export function createApp({ context, limits = defaultLimits(), logError = console.error }: AppOptions) {
  // Every route is registered through the route table with the role it requires (src/api/routes/route-table.ts).
  const table = createRouteTable<AppEnv>();
  const app = table.app;

  app.use(clientAddress);
  app.use(async function securityHeaders(c, next) {
    await next();
    // Responses carry tokens, fingerprints and account details: never cache them.
    c.header('Cache-Control', 'no-store');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    if (context.config.isHttps) c.header('Strict-Transport-Security', 'max-age=31536000');
  });
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError('BODY_TOO_LARGE', `request body is larger than ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  table.mount('/', serverRoutes(context));
  table.mount('/', enrollmentRoutes(context, limits));
  const adminToken = requireAdmin({ db: context.db, now: context.now, failures: limits.adminFailures });
  app.use('/v1/admin/*', adminToken);
  table.mount('/v1/admin', adminRoutes(context));
  table.mount('/v1/admin/maintainers', maintainerRoutes(context));
  // Prometheus scrapes with a bearer admin token of the metrics role (bearer_token_file in its scrape config).
  app.use('/metrics', adminToken);
  table.mount('/', metricsRoutes(context));
  table.mount('/ui', webRoutes(context, limits, logError));
  table.on('GET', '/', 'public', (c) => c.redirect('/ui', 302));
  // The document describes every /v1 route, itself included: built once, after the last route is declared.
  let openApiDocument: object | undefined;
  table.on(
    'GET',
    OPENAPI_PATH,
    {
      access: 'public',
      operationId: 'getOpenApiDocument',
      summary: 'This document: the OpenAPI 3.1 description of the API',
      responses: {
        200: {
          description: 'the OpenAPI document',
          json: z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }),
        },
      },
    },
    (c) => c.json(openApiDocument),
  );
  openApiDocument = buildOpenApiDocument(table.routes, context.config.publicUrl);

  app.notFound((c) => c.json({ error: 'NOT_FOUND', message: 'no such route' }, 404));
  app.onError((error, c) => {
    const expected = asExpectedError(error, context.faults?.probeStateVolume) ?? faultAsError(error);
    if (expected) {
      // A busy server (its database, or root refusing more requests) is free again within seconds.
      const retryAfterSeconds = expected.retryAfterSeconds ?? (expected.code === 'SERVER_BUSY' ? BUSY_RETRY_AFTER_SECONDS : undefined);
      if (retryAfterSeconds !== undefined) c.header('Retry-After', String(retryAfterSeconds));
      // A fault is logged once per episode by the monitor, not once per request it fails.
      if (isFaultCode(expected.code)) context.faults?.noteFault({ code: expected.code, message: expected.message });
      // A refusal by role names the role that would do: a client can tell its token is too narrow, not wrong.
      const requiredRole = expected instanceof RoleRequiredError ? { requiredRole: expected.requiredRole } : {};
      return c.json({ error: expected.code, message: expected.message, ...requiredRole }, STATUS_BY_CODE[expected.code]);
    }
    if (error instanceof HTTPException && error.status < 500) {
      return c.json({ error: 'BAD_REQUEST', message: error.message || 'bad request' }, error.status);
    }
    logError(error);
    return c.json({ error: 'INTERNAL', message: 'internal error' }, 500);
  });
  /** Every route with the role it requires: the route × role test enumerates them. */
  return Object.assign(app, { declaredRoutes: table.routes });
}
