import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/**
 * Checks answers of the API against its served OpenAPI document
 * (`GET /v1/openapi.json`) with an independent JSON Schema 2020-12 validator
 * (ajv), so that the document and the routes cannot drift: every answer of a
 * documented /v1 operation must have a status the document declares for it,
 * and a JSON body its schema accepts. callApi (test-context.ts) checks every
 * answer an API test gets this way.
 */

// biome-ignore lint/suspicious/noExplicitAny: the document is JSON read from the server
type OpenApiDocument = any;

interface Operation {
  pattern: RegExp;
  /** Literal segments first: /v1/enroll before a template that would also match. */
  literalLength: number;
  responses: Map<string, { mediaType: string; validate: ValidateFunction | null }>;
  /** Path parameters in the order of the pattern's groups, with their schema. */
  pathParameters: [string, ValidateFunction][];
  /** Query parameters by name, with their schema. */
  query: Map<string, ValidateFunction>;
  requestBody: ValidateFunction | null;
}

export interface DocumentChecker {
  /** The operation documented for this method and path (query ignored), if any. */
  hasOperation(method: string, path: string): boolean;
  /**
   * Problems of one answer (none: it agrees with the document); answers outside /v1 are not checked.
   * A request the server accepted (2xx) must also be one the document allows: its query parameters
   * and its JSON body (`requestBody`, when one was sent) valid against their schemas.
   */
  problemsOf(
    method: string,
    path: string,
    answer: { status: number; contentType: string; body: unknown },
    request?: { body?: unknown },
  ): string[];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A copy of a JSON Schema with every `$ref` rewritten. */
function rewriteReferences(value: unknown, rewrite: (reference: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => rewriteReferences(item, rewrite));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === '$ref' && typeof inner === 'string' ? rewrite(inner) : rewriteReferences(inner, rewrite),
    ]),
  );
}

export function createDocumentChecker(document: OpenApiDocument): DocumentChecker {
  const ajv = new Ajv2020({ allErrors: true, strict: true, validateFormats: false });
  // The components become one schema of their own, which each response schema's references point into.
  const componentsId = 'urn:openapi:components';
  const pointInto = (base: string) => (value: unknown) =>
    rewriteReferences(value, (reference) => reference.replace('#/components/schemas/', `${base}#/$defs/`));
  ajv.addSchema({ $id: componentsId, $defs: pointInto('')(document.components?.schemas ?? {}) as object });
  const compile = (schema: object) => ajv.compile(pointInto(componentsId)(schema) as object);
  // A parameter is text in the URL: its value is read as its schema's type says (limit=10 is the integer 10).
  const parameterAjv = new Ajv2020({ allErrors: true, strict: true, validateFormats: false, coerceTypes: true });
  const compileParameter = (schema: object) => parameterAjv.compile(schema);

  const operations = new Map<string, Operation[]>();
  for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, OpenApiDocument>>)) {
    const pattern = new RegExp(
      `^${path
        .split(/\{[^}]+\}/)
        .map(escapeRegExp)
        .join('([^/]+)')}$`,
    );
    for (const [method, operation] of Object.entries(methods)) {
      const responses = new Map<string, { mediaType: string; validate: ValidateFunction | null }>();
      for (const [status, response] of Object.entries(operation.responses as Record<string, OpenApiDocument>)) {
        const [mediaType, media] = Object.entries(response.content ?? {})[0] ?? ['', {}];
        const isJson = mediaType === 'application/json';
        responses.set(status, { mediaType, validate: isJson ? compile((media as OpenApiDocument).schema) : null });
      }
      const query = new Map<string, ValidateFunction>();
      const pathSchemas = new Map<string, ValidateFunction>();
      for (const parameter of (operation.parameters ?? []) as OpenApiDocument[]) {
        (parameter.in === 'query' ? query : pathSchemas).set(parameter.name, compileParameter(parameter.schema));
      }
      const pathParameters = [...path.matchAll(/\{([^}]+)\}/g)].map((match): [string, ValidateFunction] => {
        const validate = pathSchemas.get(match[1] as string);
        if (!validate) throw new Error(`${method} ${path}: the path parameter ${match[1]} is not among its parameters`);
        return [match[1] as string, validate];
      });
      const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
      const requestBody = bodySchema ? compile(bodySchema) : null;
      const list = operations.get(method.toUpperCase()) ?? [];
      list.push({ pattern, literalLength: path.replace(/\{[^}]+\}/g, '').length, responses, pathParameters, query, requestBody });
      operations.set(method.toUpperCase(), list);
    }
  }
  for (const list of operations.values()) list.sort((left, right) => right.literalLength - left.literalLength);

  const operationOf = (method: string, path: string) => {
    const bare = path.split('?')[0] ?? path;
    return operations.get(method.toUpperCase())?.find((operation) => operation.pattern.test(bare));
  };

  return {
    hasOperation: (method, path) => operationOf(method, path) !== undefined,
    problemsOf(method, path, answer, request = {}) {
      const operation = operationOf(method, path);
      if (!operation) {
        // Outside /v1 (the page, /metrics, /healthz) the document says nothing; under it only the router's 404 is undocumented.
        const isUnknownRoute = answer.status === 404 && (answer.body as { message?: unknown } | null)?.message === 'no such route';
        const isUnderV1 = (path.split('?')[0] ?? '').startsWith('/v1/');
        return isUnderV1 && !isUnknownRoute ? [`${method} ${path}: answered ${answer.status}, but the document has no such operation`] : [];
      }
      const declared = operation.responses.get(String(answer.status));
      if (!declared) return [`${method} ${path}: status ${answer.status} is not in the OpenAPI document (${JSON.stringify(answer.body)})`];
      const mediaType = answer.contentType.split(';')[0]?.trim() ?? '';
      if (mediaType !== declared.mediaType)
        return [`${method} ${path}: ${answer.status} answered ${mediaType}, the document says ${declared.mediaType}`];
      if (declared.validate && !declared.validate(answer.body)) {
        return [`${method} ${path}: the ${answer.status} body does not match the document: ${ajv.errorsText(declared.validate.errors)}`];
      }
      if (answer.status >= 300) return [];
      const problems: string[] = [];
      const values = operation.pattern.exec(path.split('?')[0] ?? '')?.slice(1) ?? [];
      operation.pathParameters.forEach(([name, validate], index) => {
        const value = decodeURIComponent(values[index] ?? '');
        if (!validate(value)) problems.push(`${method} ${path}: accepted ${name} ${value}, which the document refuses`);
      });
      for (const [name, value] of new URLSearchParams(path.split('?')[1] ?? '')) {
        const validate = operation.query.get(name);
        if (!validate) problems.push(`${method} ${path}: accepted the query parameter ${name}, which the document does not name`);
        else if (!validate(value))
          problems.push(`${method} ${path}: accepted ${name}=${value}, which the document refuses: ${ajv.errorsText(validate.errors)}`);
      }
      if (request.body !== undefined && operation.requestBody && !operation.requestBody(request.body)) {
        problems.push(`${method} ${path}: accepted a body the document refuses: ${ajv.errorsText(operation.requestBody.errors)}`);
      }
      return problems;
    },
  };
}
