import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { BlankInput, H, Input, MiddlewareHandler } from 'hono/types';
import type { z } from 'zod';
import { type AdminRole, roleMeets } from '../../domain/admin-roles.js';
import { AppError } from '../../errors.js';
import type { AppEnv } from '../app-env.js';

export type RouteMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * The admin role a route requires; `any`: an admin token of any role (the
 * page's logout); `public`: no admin token at all (a VM's routes, the health
 * check, the login page).
 */
export type RouteAccess = AdminRole | 'any' | 'public';

/** One answer of a route: a JSON body of this schema, or a body of another media type (text). */
export type ResponseDocumentation = { description: string; json: z.ZodType } | { description: string; mediaType: string };

/**
 * What the OpenAPI document (`GET /v1/openapi.json`, src/api/routes/openapi-document.ts) says of a route.
 * `query` and `body` are the zod schemas the route validates with; `responses` its answers by status.
 * The error statuses every route of its kind can answer (a bad body, a refused token, a busy server)
 * are added by the document; `errors` names the route's own (404 for a missing host, 409 for a conflict).
 */
export interface RouteDocumentation {
  operationId: string;
  summary: string;
  description?: string;
  /** Schemas of path parameters, for their pattern and description; a parameter not named here is a plain string. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The bearer token a public route takes instead of an admin token (POST /v1/enroll: an enrollment token). */
  enrollmentToken?: true;
  responses: Record<number, ResponseDocumentation>;
  errors?: number[];
}

/** A route's role, with what the OpenAPI document says of it: every route under /v1 has one. */
export interface RouteSpecification extends RouteDocumentation {
  access: RouteAccess;
}

/** What a route is registered with: its role alone, or its role with its documentation (every /v1 route). */
export type RouteTerms = RouteAccess | RouteSpecification;

/**
 * One route of the app as the route table declares it. Its role is checked by
 * `requireRole` before any of its handlers; the route × role test enumerates
 * these, and the OpenAPI document is built from their documentation.
 */
export interface RouteDeclaration {
  method: RouteMethod;
  path: string;
  access: RouteAccess;
  documentation?: RouteDocumentation;
}

/** A refusal of a route to a token whose role does not allow it: 403, naming the role the route needs. */
export class RoleRequiredError extends AppError {
  readonly requiredRole: AdminRole;
  constructor(requiredRole: AdminRole, role: AdminRole) {
    const either = requiredRole === 'admin' ? 'the admin role' : `the ${requiredRole} role (or admin)`;
    super('FORBIDDEN', `this admin token has the ${role} role; this needs ${either}`);
    this.name = 'RoleRequiredError';
    this.requiredRole = requiredRole;
  }
}

/**
 * The one place roles are checked: in front of every route that requires one.
 * Authentication (a bearer token, the page's session) ran before and set `admin`.
 */
export function requireRole<E extends AppEnv>(required: AdminRole | 'any'): MiddlewareHandler<E> {
  return createMiddleware<AppEnv>(async function requireAdminRole(c, next) {
    const admin = c.get('admin') as AppEnv['Variables']['admin'] | undefined;
    if (!admin) throw new AppError('UNAUTHORIZED', 'an admin token is required');
    if (required !== 'any' && !roleMeets(admin.role, required, c.req.method)) throw new RoleRequiredError(required, admin.role);
    await next();
  }) as unknown as MiddlewareHandler<E>;
}

export interface RouteTable<E extends AppEnv> {
  app: Hono<E>;
  /** Every route registered through this table (and the tables mounted in it), with full paths. */
  routes: RouteDeclaration[];
  on<P extends string, I extends Input = BlankInput>(method: RouteMethod, path: P, access: RouteTerms, handler: H<E, NoInfer<P>, I>): void;
  on<P extends string, I extends Input = BlankInput>(
    method: RouteMethod,
    path: P,
    access: RouteTerms,
    middleware: MiddlewareHandler<E, NoInfer<P>, I>,
    handler: H<E, NoInfer<P>, I>,
  ): void;
  on<P extends string, I extends Input = BlankInput>(
    method: RouteMethod,
    path: P,
    access: RouteTerms,
    first: MiddlewareHandler<E, NoInfer<P>>,
    middleware: MiddlewareHandler<E, NoInfer<P>, I>,
    handler: H<E, NoInfer<P>, I>,
  ): void;
  /** Mounts another table's app under `prefix`, with its declarations. */
  mount(prefix: string, table: { app: object; routes: RouteDeclaration[] }): void;
}

/** `/ui` + `/` is `/ui`; `/v1/admin` + `/hosts` is `/v1/admin/hosts` (as Hono joins them). */
export function joinRoutePath(prefix: string, path: string): string {
  if (path === '/') return prefix === '' ? '/' : prefix;
  return `${prefix.replace(/\/$/, '')}${path}`;
}

/**
 * Routes are registered through a table: each with the role it requires, so
 * that no route can be added without one and the test of every route × role
 * is generated from the table.
 */
export function createRouteTable<E extends AppEnv = AppEnv>(): RouteTable<E> {
  const app = new Hono<E>();
  const routes: RouteDeclaration[] = [];
  return {
    app,
    routes,
    on(method: RouteMethod, path: string, specification: RouteTerms, ...handlers: H<E>[]) {
      const { access, ...documentation } = typeof specification === 'string' ? { access: specification } : specification;
      routes.push({ method, path, access, ...('operationId' in documentation ? { documentation } : {}) });
      const guarded = access === 'public' ? handlers : [requireRole<E>(access), ...handlers];
      app.on(method, path, ...(guarded as [H<E>]));
    },
    mount(prefix, table) {
      app.route(prefix, table.app as unknown as Hono<E>);
      routes.push(...table.routes.map((route) => ({ ...route, path: joinRoutePath(prefix, route.path) })));
    },
  };
}
