import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { openApiPath } from '../../src/api/routes/openapi-document.js';
import { useTestApi } from '../support/fixture-hooks.js';
import { createDocumentChecker } from '../support/openapi-check.js';
import { callApi } from '../support/test-context.js';

// biome-ignore lint/suspicious/noExplicitAny: the document is JSON read from the server
type Json = any;

const api = useTestApi();

async function servedDocument(): Promise<Json> {
  const response = await api.app.request('/v1/openapi.json');
  expect(response.status).toBe(200);
  return response.json();
}

/** `GET /v1/admin/hosts/{name}` for every operation of the document. */
function operationsOf(document: Json): string[] {
  return Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

describe('GET /v1/openapi.json', () => {
  it('is served without a token, as application/json', async () => {
    const response = await callApi(api.app, 'GET', '/v1/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body.openapi).toBe('3.1.0');
  });

  it('is a valid OpenAPI 3.1 document, as an independent validator reads it', async () => {
    const validator = new Validator();
    const result = await validator.validate(await servedDocument());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('describes every /v1 route of the route table, and nothing else', async () => {
    const declared = api.app.declaredRoutes
      .filter((route) => route.path.startsWith('/v1/'))
      .map((route) => `${route.method} ${openApiPath(route.path).path}`);
    expect(operationsOf(await servedDocument()).sort()).toEqual(declared.sort());
  });

  it('leaves the page, /metrics and /healthz out', async () => {
    const paths = Object.keys((await servedDocument()).paths);
    expect(paths.filter((path) => !path.startsWith('/v1/'))).toEqual([]);
  });

  it("names each operation's role as the route table declares it, and its security scheme", async () => {
    const document = await servedDocument();
    for (const route of api.app.declaredRoutes.filter((declared) => declared.path.startsWith('/v1/'))) {
      const operation = document.paths[openApiPath(route.path).path][route.method.toLowerCase()];
      expect(operation['x-required-role'], `${route.method} ${route.path}`).toBe(route.access);
      const schemes = operation.security.flatMap((requirement: object) => Object.keys(requirement));
      const expected = route.path === '/v1/enroll' ? ['enrollmentToken'] : route.access === 'public' ? [] : ['adminToken'];
      expect(schemes, `${route.method} ${route.path}`).toEqual(expected);
      if (route.access !== 'public') expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['401', '403']));
    }
  });

  it('gives every operation a distinct operationId', async () => {
    const document = await servedDocument();
    const ids = Object.values(document.paths as Record<string, Record<string, Json>>).flatMap((methods) =>
      Object.values(methods).map((operation) => operation.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('documents the error body on every error status, and Retry-After on 429 and 503', async () => {
    const document = await servedDocument();
    for (const methods of Object.values(document.paths as Record<string, Record<string, Json>>)) {
      for (const operation of Object.values(methods)) {
        for (const [status, response] of Object.entries(operation.responses as Record<string, Json>)) {
          if (Number(status) < 400) continue;
          expect(response.content['application/json'].schema, `${operation.operationId} ${status}`).toEqual({
            $ref: '#/components/schemas/Error',
          });
          if (status === '429' || status === '503') expect(response.headers['Retry-After'].schema.type).toBe('integer');
        }
      }
    }
    expect(document.components.schemas.Error.required).toEqual(['error', 'message']);
  });

  it('describes a paged list with its limit and cursor, and its answer with nextCursor', async () => {
    const operation = (await servedDocument()).paths['/v1/admin/hosts'].get;
    expect(operation.parameters.map((parameter: Json) => [parameter.name, parameter.in, parameter.required])).toEqual([
      ['limit', 'query', false],
      ['cursor', 'query', false],
    ]);
    const page = operation.responses['200'].content['application/json'].schema;
    expect(page.required).toEqual(['hosts', 'nextCursor']);
    expect(page.properties.hosts.items).toEqual({ $ref: '#/components/schemas/Host' });
  });

  it('takes the request body schema the route validates with', async () => {
    const operation = (await servedDocument()).paths['/v1/admin/enrollments/{id}/approve'].post;
    const body = operation.requestBody.content['application/json'].schema;
    expect(operation.requestBody.required).toBe(true);
    expect(body.required).toEqual(['fingerprint']);
    expect(body.additionalProperties).toBe(false);
    expect(operation.parameters).toEqual([
      {
        name: 'id',
        in: 'path',
        required: true,
        schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$', description: 'the id POST /v1/enroll answered' },
        description: 'the id POST /v1/enroll answered',
      },
    ]);
  });
});

describe('the check of every API answer against the document', () => {
  it('accepts a real answer as the server sent it', async () => {
    const checker = createDocumentChecker(await servedDocument());
    const response = await callApi(api.app, 'GET', '/v1/server');
    const answer = { status: 200, contentType: 'application/json', body: response.body };
    expect(checker.problemsOf('GET', '/v1/server', answer)).toEqual([]);
  });

  it('refuses an answer with a field the document does not know, or without one it requires', async () => {
    const checker = createDocumentChecker(await servedDocument());
    const { body } = await callApi(api.app, 'GET', '/v1/server');
    const { tlsPin: _pin, ...withoutPin } = body;
    for (const drifted of [{ ...body, extra: 1 }, withoutPin, { ...body, sshPort: '2022' }]) {
      expect(checker.problemsOf('GET', '/v1/server', { status: 200, contentType: 'application/json', body: drifted })).toHaveLength(1);
    }
  });

  it('refuses a status the document does not declare for the operation', async () => {
    const checker = createDocumentChecker(await servedDocument());
    const body = { error: 'NOT_FOUND', message: 'no such thing' };
    expect(checker.problemsOf('GET', '/v1/server', { status: 404, contentType: 'application/json', body })).toHaveLength(1);
    expect(checker.problemsOf('GET', '/v1/admin/hosts/web1', { status: 404, contentType: 'application/json', body })).toEqual([]);
  });

  it('refuses a request the server accepted but the document does not allow: its path, query or body', async () => {
    const checker = createDocumentChecker(await servedDocument());
    const { status, body } = await callApi(api.app, 'GET', '/v1/admin/hosts?limit=5', { token: api.adminToken });
    const hosts = { status, contentType: 'application/json', body };
    expect(checker.problemsOf('GET', '/v1/admin/hosts?limit=5', hosts)).toEqual([]);
    expect(checker.problemsOf('GET', '/v1/admin/hosts?limit=five', hosts)).toHaveLength(1);
    expect(checker.problemsOf('GET', '/v1/admin/hosts?sort=name', hosts)).toHaveLength(1);
    const denied = { status: 200, contentType: 'application/json', body: { id: 'AAAAAAAAAAAAAAAAAAAAAA', status: 'denied' } };
    const path = '/v1/admin/enrollments/AAAAAAAAAAAAAAAAAAAAAA/deny';
    expect(checker.problemsOf('POST', path, denied, { body: { reason: 'unknown machine' } })).toEqual([]);
    expect(checker.problemsOf('POST', path, denied, { body: { reason: 5 } })).toHaveLength(1);
    expect(checker.problemsOf('POST', path, denied, { body: { why: 'unknown machine' } })).toHaveLength(1);
    expect(checker.problemsOf('POST', '/v1/admin/enrollments/not-an-id/deny', denied, { body: {} })).toHaveLength(1);
  });

  it('refuses an error body with an unknown code, and an answer of another media type', async () => {
    const checker = createDocumentChecker(await servedDocument());
    const unknownCode = { error: 'NO_SUCH_CODE', message: 'x' };
    expect(
      checker.problemsOf('GET', '/v1/admin/hosts/web1', { status: 404, contentType: 'application/json', body: unknownCode }),
    ).toHaveLength(1);
    expect(checker.problemsOf('GET', '/v1/server', { status: 200, contentType: 'text/plain', body: null })).toHaveLength(1);
  });
});
