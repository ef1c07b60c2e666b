import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { BlankInput, H, Input, MiddlewareHandler } from 'hono/types';
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

/**
 * One route of the app as the route table declares it. Its role is checked by
 * `requireRole` before any of its handlers; the route × role test enumerates
 * these. (A later OpenAPI description can hang its request and responses here.)
 */
export interface RouteDeclaration {
  method: RouteMethod;
  path: string;
  access: RouteAccess;
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
  on<P extends string, I extends Input = BlankInput>(method: RouteMethod, path: P, access: RouteAccess, handler: H<E, NoInfer<P>, I>): void;
  on<P extends string, I extends Input = BlankInput>(
    method: RouteMethod,
    path: P,
    access: RouteAccess,
    middleware: MiddlewareHandler<E, NoInfer<P>, I>,
    handler: H<E, NoInfer<P>, I>,
  ): void;
  on<P extends string, I extends Input = BlankInput>(
    method: RouteMethod,
    path: P,
    access: RouteAccess,
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
    on(method: RouteMethod, path: string, access: RouteAccess, ...handlers: H<E>[]) {
      routes.push({ method, path, access });
      const guarded = access === 'public' ? handlers : [requireRole<E>(access), ...handlers];
      app.on(method, path, ...(guarded as [H<E>]));
    },
    mount(prefix, table) {
      app.route(prefix, table.app as unknown as Hono<E>);
      routes.push(...table.routes.map((route) => ({ ...route, path: joinRoutePath(prefix, route.path) })));
    },
  };
}
