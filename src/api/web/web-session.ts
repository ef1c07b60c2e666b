import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { createMiddleware } from 'hono/factory';
import { AppError } from '../../errors.js';
import { findAdminSession, SESSION_LIFETIME_MS } from '../admin/admin-sessions.js';
import type { ServerContext } from '../context.js';
import type { WebEnv } from './web-env.js';

/**
 * The page's login cookie: HttpOnly (no script reads it), SameSite=Strict (no
 * other site's link or form carries it), and over HTTPS Secure with the
 * __Host- prefix (no subdomain or plain-HTTP page can set or read it).
 */
export function sessionCookieName(context: ServerContext): string {
  return context.config.isHttps ? '__Host-sbs_session' : 'sbs_session';
}

export function setSessionCookie(c: Context, context: ServerContext, id: string): void {
  setCookie(c, sessionCookieName(context), id, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: context.config.isHttps,
    path: '/',
    maxAge: SESSION_LIFETIME_MS / 1000,
  });
}

export function clearSessionCookie(c: Context, context: ServerContext): void {
  deleteCookie(c, sessionCookieName(context), { path: '/', secure: context.config.isHttps, httpOnly: true, sameSite: 'Strict' });
}

export function sessionIdOf(c: Context, context: ServerContext): string | undefined {
  return getCookie(c, sessionCookieName(context));
}

/**
 * Every form post must come from this page: the browser's Origin (or
 * Sec-Fetch-Site) must say so. A post with neither is refused too.
 */
export function sameOriginPosts(context: ServerContext) {
  const publicOrigin = new URL(context.config.publicUrl).origin;
  return csrf({ origin: (origin, c) => origin === publicOrigin || origin === new URL(c.req.url).origin });
}

/**
 * Pages need a live session: a GET without one goes to the login page, a POST
 * without one is refused. Every POST must carry the session's form token.
 */
export function requireSession(context: ServerContext) {
  return createMiddleware<WebEnv>(async function requireWebSession(c, next) {
    const id = sessionIdOf(c, context);
    const session = id ? findAdminSession(context.db, id, context.now()) : null;
    if (!session) {
      if (id) clearSessionCookie(c, context);
      if (c.req.method === 'GET') return c.redirect(loginUrlFor(c.req.path), 303);
      throw new AppError('UNAUTHORIZED', 'your session has ended: log in again');
    }
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody();
      const presented = typeof form.csrf === 'string' ? Buffer.from(form.csrf) : Buffer.alloc(0);
      const expected = Buffer.from(session.csrfToken);
      if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
        throw new AppError('FORBIDDEN', 'this form is out of date or was not sent by this page: reload the page and try again');
      }
    }
    c.set('session', session);
    c.set('admin', session.admin);
    await next();
  });
}

function loginUrlFor(path: string): string {
  return path === '/ui' || path === '/ui/' ? '/ui/login' : `/ui/login?next=${encodeURIComponent(path)}`;
}

/** Where to go after the login: a page of /ui only (never another site), else the overview. */
export function safeNextPath(next: string | undefined): string {
  return next && /^\/ui(\/[A-Za-z0-9._~/-]*)?$/.test(next) && !next.includes('//') ? next : '/ui';
}
