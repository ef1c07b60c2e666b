import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { type AdminRole, roleMeets } from '../../../domain/admin-roles.js';

/** The page's sections, each with the role its page requires (as web-routes.tsx declares it). */
export const NAVIGATION = [
  ['/ui', 'Overview', 'read'],
  ['/ui/enrollments', 'Enrollments', 'read'],
  ['/ui/hosts', 'Hosts', 'read'],
  ['/ui/maintainers', 'Maintainers', 'read'],
  ['/ui/tokens', 'Tokens', 'enroll'],
  ['/ui/webhooks', 'Webhooks', 'read'],
  ['/ui/audit', 'Audit', 'read'],
] as const satisfies readonly (readonly [string, string, AdminRole])[];

export interface PageFrame {
  title: string;
  /** The logged-in session's form token; absent on the login page (no navigation there). */
  csrfToken?: string;
  /** The session's role: the page shows only what it may do (the server refuses the rest too). */
  role?: AdminRole;
  /** Which navigation entry is current. */
  section?: (typeof NAVIGATION)[number][0];
  notice?: string | undefined;
  error?: string | undefined;
}

/** Every page: no inline script or style (the Content-Security-Policy forbids both), one stylesheet, one script. */
/** Whether the page should offer a form that posts to a route requiring `required` (admin for every change but minting tokens). */
export function mayPost(frame: PageFrame, required: AdminRole = 'admin'): boolean {
  return frame.role !== undefined && roleMeets(frame.role, required, 'POST');
}

export function Layout({ title, csrfToken, role, section, notice, error, children }: PageFrame & { children?: Child }) {
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${title} · secure-borg-server`}</title>
          <link rel="stylesheet" href="/ui/assets/app.css" />
          <link rel="icon" href="/ui/assets/icon.svg" type="image/svg+xml" />
          <script src="/ui/assets/app.js" defer />
        </head>
        <body>
          <header class="top">
            <a class="brand" href="/ui">
              secure-borg-server
            </a>
            {csrfToken && (
              <nav aria-label="Sections">
                {NAVIGATION.filter(([, , required]) => role === undefined || roleMeets(role, required, 'GET')).map(([href, label]) => (
                  <a href={href} aria-current={href === section ? 'page' : undefined}>
                    {label}
                  </a>
                ))}
                <form method="post" action="/ui/logout" class="inline">
                  <CsrfField token={csrfToken} />
                  <button type="submit" class="link">
                    Log out
                  </button>
                </form>
              </nav>
            )}
          </header>
          <main>
            <h1>{title}</h1>
            {notice && (
              <p class="notice" role="status">
                {notice}
              </p>
            )}
            {error && (
              <p class="error" role="alert">
                {error}
              </p>
            )}
            {children}
          </main>
        </body>
      </html>
    </>
  );
}

/** The session's form token, in every form that changes something. */
export function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name="csrf" value={token} />;
}

/** A form with one button that POSTs to `action` (and the form token). */
export function ActionButton({
  action,
  csrfToken,
  label,
  danger,
  children,
}: {
  action: string;
  csrfToken: string;
  label: string;
  danger?: boolean;
  children?: Child;
}) {
  return (
    <form method="post" action={action} class="inline">
      <CsrfField token={csrfToken} />
      {children}
      <button type="submit" class={danger ? 'danger' : undefined}>
        {label}
      </button>
    </form>
  );
}
