import { z } from 'zod';
import { errorBody } from '../error-map.js';
import type { RouteDeclaration, RouteDocumentation } from './route-table.js';

/**
 * The OpenAPI 3.1 document of the API (`GET /v1/openapi.json`), built from the
 * route table: each /v1 route's documentation names the zod schemas it
 * validates its query and body with and those of its answers, and zod writes
 * them as JSON Schema 2020-12, OpenAPI 3.1's dialect. Schemas with an id
 * (`.meta({ id: 'Host' })`) become components, referenced where used.
 *
 * Routes outside /v1 (the page /ui, /metrics, /healthz, /enroll.sh) are not in it.
 */

export const OPENAPI_PATH = '/v1/openapi.json';

type JsonSchema = Record<string, unknown>;
type JsonObject = Record<string, unknown>;

/**
 * Query parameters whose text stands for a value of another type (`limit`: an integer, in decimal), with the schema
 * the document gives them instead of the text rule the route checks: a client generated from it sends a number.
 */
export const parameterSchemas = z.registry<{ schema: JsonSchema }>();

/** What no route documents itself: the errors every route of its kind can answer. */
const ERROR_MEANINGS: Record<number, string> = {
  400: 'a malformed request: a bad body, query or value (the error code says which)',
  401: 'no admin token, or one that is unknown, revoked or expired',
  403: "the token's role does not allow this (requiredRole names the role that would)",
  404: 'no such object',
  409: 'a conflict with the current state (the error code says which)',
  413: 'the request body is larger than 32 KiB',
  429: 'too many attempts from this address: try again after Retry-After seconds',
  500: 'an internal error',
  503: 'the server cannot serve this now (busy, or a fault such as a full volume): try again after Retry-After seconds when given',
  507: 'no UID left for a new host',
};

/** Refusals that say when to try again. */
const RETRY_AFTER_STATUSES = new Set([429, 503]);
const RETRY_AFTER_HEADER = {
  description: 'seconds to wait before trying again (on 503 only when the server is busy or a fault is expected to pass)',
  schema: { type: 'integer', minimum: 1 },
};

/**
 * The errors a route answers besides its own: 500 and 503 anywhere; 413 for any method but GET (the body limit
 * is checked before the route); 400 with a body or query; 401, 403 and 429 with an admin token.
 */
function commonErrorStatuses(route: RouteDeclaration, documentation: RouteDocumentation): number[] {
  const statuses = [500, 503];
  if (route.method !== 'GET') statuses.push(413);
  if (documentation.body || documentation.query) statuses.push(400);
  if (route.access !== 'public') statuses.push(401, 403, 429);
  return statuses;
}

/** Converts zod schemas to JSON Schema, gathering those with an id into one set of components. */
function createSchemaWriter() {
  const components: Record<string, JsonSchema> = {};
  const componentTexts = new Map<string, string>();

  function pointRefsAtComponents(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(pointRefsAtComponents);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value).map(([key, inner]) => {
      if (key === '$ref' && typeof inner === 'string' && inner.startsWith('#/$defs/')) {
        return [key, `#/components/schemas/${inner.slice('#/$defs/'.length)}`];
      }
      return [key, pointRefsAtComponents(inner)];
    });
    return Object.fromEntries(entries);
  }

  function addComponent(id: string, schema: JsonSchema) {
    const text = JSON.stringify(schema);
    const known = componentTexts.get(id);
    if (known !== undefined && known !== text) throw new Error(`two different schemas have the id ${id}: ${known} and ${text}`);
    componentTexts.set(id, text);
    components[id] = schema;
  }

  /** The JSON Schema of a value as it is sent (`input`: a query or body) or answered (`output`). */
  function write(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const converted = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
    const { $schema: _dialect, $defs, ...rest } = converted;
    for (const [id, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      addComponent(id, pointRefsAtComponents(definition) as JsonSchema);
    }
    const written = pointRefsAtComponents(rest) as JsonSchema;
    // zod writes a top-level schema with an id as a reference to its own definition; should it not, it is made one here.
    const id = z.globalRegistry.get(schema)?.id;
    if (id === undefined || '$ref' in written) return written;
    addComponent(id, written);
    return { $ref: `#/components/schemas/${id}` };
  }

  return { write, components };
}

/** `/v1/admin/hosts/:name` as OpenAPI writes it: `/v1/admin/hosts/{name}`; and the names of its parameters. */
export function openApiPath(path: string): { path: string; parameterNames: string[] } {
  const parameterNames: string[] = [];
  const templated = path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    parameterNames.push(name);
    return `{${name}}`;
  });
  return { path: templated, parameterNames };
}

function accessText(access: RouteDeclaration['access']): string {
  if (access === 'public') return 'Public: no admin token.';
  if (access === 'any') return 'Needs an admin token of any role.';
  if (access === 'admin') return 'Needs an admin token of the admin role.';
  return `Needs an admin token of the ${access} role (or admin).`;
}

function operationOf(route: RouteDeclaration, documentation: RouteDocumentation, writer: ReturnType<typeof createSchemaWriter>) {
  const { parameterNames } = openApiPath(route.path);
  const pathSchemas = (documentation.params?.shape ?? {}) as Record<string, z.ZodType>;
  for (const name of Object.keys(pathSchemas)) {
    if (!parameterNames.includes(name))
      throw new Error(`${route.method} ${route.path} documents a path parameter ${name} it does not have`);
  }
  const parameterOf = (name: string, place: 'path' | 'query', schema: z.ZodType | undefined) => {
    const description = schema === undefined ? undefined : z.globalRegistry.get(schema)?.description;
    return {
      name,
      in: place,
      required: place === 'path' || !schema?.safeParse(undefined).success,
      schema: schema === undefined ? { type: 'string' } : (parameterSchemas.get(schema)?.schema ?? writer.write(schema, 'input')),
      ...(description === undefined ? {} : { description }),
    };
  };
  const parameters: JsonObject[] = [
    ...parameterNames.map((name) => parameterOf(name, 'path', pathSchemas[name])),
    ...Object.entries(documentation.query?.shape ?? {}).map(([name, schema]) => parameterOf(name, 'query', schema as z.ZodType)),
  ];

  const responses: Record<string, JsonObject> = {};
  for (const [status, response] of Object.entries(documentation.responses)) {
    const content =
      'json' in response
        ? { 'application/json': { schema: writer.write(response.json, 'output') } }
        : { [response.mediaType]: { schema: { type: 'string' } } };
    responses[status] = { description: response.description, content };
  }
  const errorStatuses = new Set([...commonErrorStatuses(route, documentation), ...(documentation.errors ?? [])]);
  for (const status of [...errorStatuses].sort((left, right) => left - right)) {
    if (responses[status]) continue;
    const meaning = ERROR_MEANINGS[status];
    if (meaning === undefined) throw new Error(`${route.method} ${route.path}: no meaning written for error status ${status}`);
    responses[status] = {
      description: meaning,
      ...(RETRY_AFTER_STATUSES.has(status) ? { headers: { 'Retry-After': RETRY_AFTER_HEADER } } : {}),
      content: { 'application/json': { schema: writer.write(errorBody, 'output') } },
    };
  }

  const security = documentation.enrollmentToken ? [{ enrollmentToken: [] }] : route.access === 'public' ? [] : [{ adminToken: [] }];
  return {
    operationId: documentation.operationId,
    summary: documentation.summary,
    description: [documentation.description, accessText(route.access)].filter(Boolean).join('\n\n'),
    tags: [tagOf(route.path)],
    'x-required-role': route.access,
    security,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(documentation.body
      ? {
          requestBody: {
            // A route that takes a body reads no body as {}: the body is required when {} is not a valid one.
            required: !documentation.body.safeParse({}).success,
            content: { 'application/json': { schema: writer.write(documentation.body, 'input') } },
          },
        }
      : {}),
    responses,
  };
}

/** The group a client generator puts an operation in: the segment after /v1/admin, or `enrollment` and `server`. */
function tagOf(path: string): string {
  const admin = /^\/v1\/admin\/([^/]+)/.exec(path);
  if (admin?.[1]) return admin[1];
  if (path.startsWith('/v1/enroll')) return 'enrollment';
  return 'server';
}

/** Builds the document from every route the table declares; a /v1 route without documentation is an error. */
export function buildOpenApiDocument(routes: readonly RouteDeclaration[], serverUrl: string): JsonObject {
  const writer = createSchemaWriter();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (!route.path.startsWith('/v1/')) continue;
    if (!route.documentation) throw new Error(`${route.method} ${route.path} has no OpenAPI documentation in its route table`);
    const { path } = openApiPath(route.path);
    paths[path] ??= {};
    (paths[path] as Record<string, unknown>)[route.method.toLowerCase()] = operationOf(route, route.documentation, writer);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'secure-borg-server API',
      version: '1',
      description:
        'Enrollment of new machines and the admin API of secure-borg-server. Admin routes take `Authorization: Bearer <admin token>` ' +
        '(`borgctl admin-token create`); `x-required-role` on each operation names the role it needs. Errors answer with the Error body. ' +
        'Lists page with `limit` and `cursor`, answering `nextCursor` (null on the last page).',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      schemas: writer.components,
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'an admin token (borgctl admin-token create)' },
        enrollmentToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a one-time enrollment token' },
      },
    },
  };
}
