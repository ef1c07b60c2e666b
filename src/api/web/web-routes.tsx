import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Actor } from '../../domain/actor.js';
import { rateLimitKeyOf } from '../../domain/networks.js';
import { AppError, asExpectedError } from '../../errors.js';
import { findLiveHost } from '../../host-records/hosts-store.js';
import { closeAdminSession, openAdminSession } from '../admin/admin-sessions.js';
import { adminActor, verifyAdminToken } from '../admin/admin-tokens.js';
import type { ApiLimits } from '../api-limits.js';
import { listAudit, listAuditPage } from '../audit/audit-log.js';
import type { ServerContext } from '../context.js';
import { approveEnrollment, denyEnrollment } from '../enrollment/decisions.js';
import { getEnrollment, listEnrollments, listPastEnrollments } from '../enrollment/enroll.js';
import { createEnrollmentToken, listEnrollmentTokenPage, revokeEnrollmentToken } from '../enrollment/tokens.js';
import { STATUS_BY_CODE } from '../error-map.js';
import { listHostChecks, queueHostCheck } from '../hosts/host-checks.js';
import { deleteHost, getHost, type HostChanges, hostSessions, updateHost } from '../hosts/hosts.js';
import { decodeCursor, integerIdKey, timeAndIdKey } from '../list-pages.js';
import {
  acknowledgeMaintenance,
  addMaintainer,
  grantMaintainer,
  type HostSelection,
  listMaintainers,
  removeMaintainer,
  revokeMaintainer,
  splitHostNames,
} from '../maintainers/maintainers.js';
import { rateLimitedError } from '../middleware/rate-limit.js';
import { byTrouble, listHostSummaries } from '../monitoring/host-summaries.js';
import { createWebhook, listWebhooks, removeWebhook, sendTestEvent, webhookDeliveries } from '../notify/webhooks.js';
import { createRouteTable } from '../routes/route-table.js';
import { APP_CSS, APP_JS, ICON_SVG } from './assets.js';
import { type FormFields, optionalField, readForm, requiredField } from './form-fields.js';
import { type Notice, noticeText } from './notices.js';
import { AuditPage } from './pages/audit-page.js';
import { EnrollmentPage, EnrollmentsPage } from './pages/enrollments-page.js';
import { HOST_SETTINGS, HostPage, type HostPageData } from './pages/host-page.js';
import { HOST_FILTERS, type HostFilter, HostsPage } from './pages/hosts-page.js';
import type { PageFrame } from './pages/layout.js';
import { ErrorPage, LoginPage } from './pages/login-page.js';
import { MaintainersPage } from './pages/maintainers-page.js';
import { OverviewPage } from './pages/overview-page.js';
import { TokensPage } from './pages/tokens-page.js';
import { DeliveriesPage, WebhooksPage } from './pages/webhooks-page.js';
import type { WebEnv } from './web-env.js';
import { clearSessionCookie, requireSession, safeNextPath, sameOriginPosts, sessionIdOf, setSessionCookie } from './web-session.js';

/** No inline script or style, nothing from another origin, no framing, forms post only here. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HOSTS_PER_PAGE = 50;
const AUDIT_PER_PAGE = 50;
const DELIVERIES_PER_PAGE = 50;
/** The newest enrollment tokens the tokens page lists. */
const TOKENS_SHOWN = 200;

/** The admin web page under /ui: server-rendered, plain forms, one small script for copy buttons. */
export function webRoutes(context: ServerContext, limits: ApiLimits, logError: (error: unknown) => void) {
  const table = createRouteTable<WebEnv>();
  const app = table.app;
  const actorOf = (c: Context<WebEnv>): Actor => ({ actor: adminActor(c.get('admin')), sourceAddress: c.get('clientAddress') });
  const frameOf = (c: Context<WebEnv>, title: string, section?: PageFrame['section']): PageFrame & { csrfToken: string } => ({
    title,
    csrfToken: c.get('session').csrfToken,
    role: c.get('session').admin.role,
    ...(section ? { section } : {}),
    notice: noticeText(c.req.query('notice')),
  });
  const done = (path: string, notice: Notice) => `${path}?notice=${notice}`;

  app.use(async function pageHeaders(c, next) {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Frame-Options', 'DENY');
  });
  table.on('GET', '/assets/app.css', 'public', (c) => c.body(APP_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }));
  table.on('GET', '/assets/app.js', 'public', (c) => c.body(APP_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  table.on('GET', '/assets/icon.svg', 'public', (c) => c.body(ICON_SVG, 200, { 'content-type': 'image/svg+xml' }));
  app.use(sameOriginPosts(context));

  table.on('GET', '/login', 'public', (c) =>
    c.html(<LoginPage next={safeNextPath(c.req.query('next'))} notice={noticeText(c.req.query('notice'))} />),
  );
  table.on('POST', '/login', 'public', async (c) => {
    const form = await readForm(c);
    const next = safeNextPath(optionalField(form, 'next'));
    const source = rateLimitKeyOf(c.get('clientAddress'));
    const at = context.now();
    if (limits.adminFailures.isLimited(source, at.getTime())) {
      const { retryAfterSeconds } = rateLimitedError(limits.adminFailures, source, at.getTime(), 'too many failed logins');
      c.header('Retry-After', String(retryAfterSeconds));
      return c.html(<LoginPage next={next} error="Too many failed logins from this address: try again later." />, 429);
    }
    const admin = verifyAdminToken(context.db, requiredField(form, 'token', 200).trim(), at);
    if (!admin) {
      limits.adminFailures.hit(source, at.getTime());
      return c.html(<LoginPage next={next} error="That admin token is not valid (or it was revoked, or it expired)." />, 401);
    }
    if (admin.role === 'metrics') {
      return c.html(<LoginPage next={next} error="A token of the metrics role serves /metrics only: it cannot log in to the page." />, 403);
    }
    const previous = sessionIdOf(c, context);
    if (previous) closeAdminSession(context.db, previous, at, c.get('clientAddress'));
    const { id } = openAdminSession(context.db, admin, at, c.get('clientAddress'));
    setSessionCookie(c, context, id);
    // A token that may only mint enrollment tokens lands where it can.
    return c.redirect(admin.role === 'enroll' && next === '/ui' ? '/ui/tokens' : next, 303);
  });

  app.use(requireSession(context));
  table.on('POST', '/logout', 'any', (c) => {
    const id = sessionIdOf(c, context);
    if (id) closeAdminSession(context.db, id, context.now(), c.get('clientAddress'));
    clearSessionCookie(c, context);
    return c.redirect(done('/ui/login', 'logged-out'), 303);
  });

  table.on('GET', '/', 'read', (c) => {
    const now = context.now();
    const hosts = listHostSummaries(context.db, now);
    const troubled = hosts.filter((host) => host.problems.some((problem) => problem !== 'disabled')).sort(byTrouble);
    const pending = listEnrollments(context, 'pending');
    return c.html(<OverviewPage frame={frameOf(c, 'Overview', '/ui')} data={{ hosts, troubled: troubled.slice(0, 50), pending, now }} />);
  });

  table.on('GET', '/enrollments', 'read', (c) => {
    const pending = listEnrollments(context, 'pending');
    const decided = listPastEnrollments(context, 20);
    return c.html(
      <EnrollmentsPage frame={frameOf(c, 'Enrollments', '/ui/enrollments')} pending={pending} decided={decided} now={context.now()} />,
    );
  });
  // Where an enrollment.pending event's approvalUrl leads; an unknown id is a 404 page.
  table.on('GET', '/enrollments/:id', 'read', (c) => {
    const enrollment = getEnrollment(context, c.req.param('id'));
    return c.html(
      <EnrollmentPage
        frame={frameOf(c, `Enrollment of ${enrollment.hostname}`, '/ui/enrollments')}
        enrollment={enrollment}
        now={context.now()}
      />,
    );
  });
  table.on('POST', '/enrollments/:id/approve', 'admin', async (c) => {
    const form = await readForm(c);
    const approval = {
      fingerprint: requiredField(form, 'fingerprint', 128).trim(),
      replaceKey: optionalField(form, 'replaceKey') === 'yes',
    };
    const host = await approveEnrollment(context, c.req.param('id'), approval, actorOf(c));
    return c.redirect(done(`/ui/hosts/${host.name}`, 'approved'), 303);
  });
  table.on('POST', '/enrollments/:id/deny', 'admin', async (c) => {
    const reason = optionalField(await readForm(c), 'reason', 500)?.trim();
    denyEnrollment(context, c.req.param('id'), reason || null, actorOf(c));
    return c.redirect(done('/ui/enrollments', 'denied'), 303);
  });

  table.on('GET', '/hosts', 'read', (c) => {
    const search = (c.req.query('q') ?? '').trim().toLowerCase().slice(0, 64);
    const requested = c.req.query('show') ?? 'all';
    const show: HostFilter = Object.hasOwn(HOST_FILTERS, requested) ? (requested as HostFilter) : 'all';
    const matching = listHostSummaries(context.db, context.now())
      .filter((host) => host.name.includes(search) && matchesFilter(host, show))
      .sort(byTrouble);
    const pages = Math.max(1, Math.ceil(matching.length / HOSTS_PER_PAGE));
    const page = Math.min(pages, Math.max(1, Number.parseInt(c.req.query('page') ?? '1', 10) || 1));
    const hosts = matching.slice((page - 1) * HOSTS_PER_PAGE, page * HOSTS_PER_PAGE);
    return c.html(
      <HostsPage
        frame={frameOf(c, 'Hosts', '/ui/hosts')}
        list={{ hosts, matching: matching.length, page, pages, search, show }}
        now={context.now()}
      />,
    );
  });
  table.on('GET', '/hosts/:name', 'read', async (c) => {
    const name = c.req.param('name');
    const host = getHost(context, name);
    const data: HostPageData = {
      host,
      sessions: hostSessions(context, name, { limit: 30 }).sessions,
      checks: listHostChecks(context, name, { limit: 20 }).checks,
      audit: listAudit(context.db, { limit: 30, targets: auditTargetsOf(context, name) }),
      restorePoints: await restorePointsOf(context, name),
      now: context.now(),
    };
    return c.html(<HostPage frame={frameOf(c, host.name, '/ui/hosts')} data={data} />);
  });
  const changeHost = (path: string, changesOf: (form: FormFields) => HostChanges, notice: Notice) =>
    table.on('POST', `/hosts/:name/${path}`, 'admin', async (c) => {
      const name = c.req.param('name');
      await updateHost(context, name, changesOf(await readForm(c)), actorOf(c));
      return c.redirect(done(`/ui/hosts/${name}`, notice), 303);
    });
  changeHost('disable', () => ({ disabled: true }), 'disabled');
  changeHost('enable', () => ({ disabled: false }), 'enabled');
  changeHost('full-access', (form) => ({ fullAccessFor: requiredField(form, 'for', 16).trim() }), 'full-access-opened');
  changeHost('full-access/close', () => ({ fullAccessFor: null }), 'full-access-closed');
  changeHost('settings', settingChange, 'updated');
  table.on('POST', '/hosts/:name/acknowledge', 'admin', async (c) => {
    const name = c.req.param('name');
    await acknowledgeMaintenance(context, name, actorOf(c));
    return c.redirect(done(`/ui/hosts/${name}`, 'acknowledged'), 303);
  });
  table.on('POST', '/hosts/:name/check', 'admin', async (c) => {
    const name = c.req.param('name');
    await queueHostCheck(context, name, actorOf(c));
    return c.redirect(done(`/ui/hosts/${name}`, 'check-queued'), 303);
  });
  table.on('POST', '/hosts/:name/delete', 'admin', async (c) => {
    const name = c.req.param('name');
    const form = await readForm(c);
    if (requiredField(form, 'confirm', 64).trim() !== name) {
      throw new AppError('BAD_REQUEST', `type the host's name (${name}) to delete it`);
    }
    const purge = optionalField(form, 'purge') === 'yes';
    await deleteHost(context, name, { purge }, actorOf(c));
    return c.redirect(done('/ui/hosts', purge ? 'purged' : 'deleted'), 303);
  });

  table.on('GET', '/maintainers', 'read', (c) =>
    c.html(
      <MaintainersPage frame={frameOf(c, 'Maintainers', '/ui/maintainers')} maintainers={listMaintainers(context)} now={context.now()} />,
    ),
  );
  table.on('POST', '/maintainers', 'admin', async (c) => {
    const form = await readForm(c);
    const input = {
      name: requiredField(form, 'name', 64).trim(),
      publicKey: requiredField(form, 'publicKey', 16_384),
      allowFrom: requiredField(form, 'allowFrom', 1024).trim(),
    };
    await addMaintainer(context, input, actorOf(c));
    return c.redirect(done('/ui/maintainers', 'maintainer-added'), 303);
  });
  table.on('POST', '/maintainers/:name/grant', 'admin', async (c) => {
    await grantMaintainer(context, c.req.param('name'), hostSelectionOf(await readForm(c)), actorOf(c));
    return c.redirect(done('/ui/maintainers', 'maintainer-granted'), 303);
  });
  table.on('POST', '/maintainers/:name/revoke', 'admin', async (c) => {
    await revokeMaintainer(context, c.req.param('name'), hostSelectionOf(await readForm(c)), actorOf(c));
    return c.redirect(done('/ui/maintainers', 'maintainer-revoked'), 303);
  });
  table.on('POST', '/maintainers/:name/remove', 'admin', async (c) => {
    await removeMaintainer(context, c.req.param('name'), actorOf(c));
    return c.redirect(done('/ui/maintainers', 'maintainer-removed'), 303);
  });

  table.on('GET', '/tokens', 'enroll', (c) =>
    c.html(
      <TokensPage
        frame={frameOf(c, 'Enrollment tokens', '/ui/tokens')}
        tokens={listEnrollmentTokenPage(context, { limit: TOKENS_SHOWN }).tokens}
        now={context.now()}
      />,
    ),
  );
  table.on('POST', '/tokens', 'enroll', async (c) => {
    const form = await readForm(c);
    const blankless = (name: string, maxLength: number) => optionalField(form, name, maxLength)?.trim() || undefined;
    const minted = await createEnrollmentToken(
      context,
      {
        host: blankless('host', 64),
        ttl: blankless('ttl', 16),
        quota: blankless('quota', 24),
        allowFrom: blankless('allowFrom', 1024),
        expectBackupEvery: blankless('expectBackupEvery', 16),
        appendOnly: optionalField(form, 'appendOnly') === 'yes',
        autoApprove: optionalField(form, 'autoApprove') === 'yes',
      },
      actorOf(c),
    );
    const shown = { command: minted.command, expiresAt: new Date(minted.expiresAt), host: blankless('host', 64) ?? null };
    return c.html(
      <TokensPage
        frame={{ ...frameOf(c, 'Enrollment tokens', '/ui/tokens'), notice: 'Token minted.' }}
        tokens={listEnrollmentTokenPage(context, { limit: TOKENS_SHOWN }).tokens}
        minted={shown}
        now={context.now()}
      />,
    );
  });
  table.on('POST', '/tokens/:jti/revoke', 'admin', (c) => {
    revokeEnrollmentToken(context, c.req.param('jti'), actorOf(c));
    return c.redirect(done('/ui/tokens', 'token-revoked'), 303);
  });

  table.on('GET', '/webhooks', 'read', (c) =>
    c.html(<WebhooksPage frame={frameOf(c, 'Webhooks', '/ui/webhooks')} webhooks={listWebhooks(context)} now={context.now()} />),
  );
  table.on('POST', '/webhooks', 'admin', async (c) => {
    const form = await readForm(c);
    const events = form.all('events');
    const created = createWebhook(
      context,
      { url: requiredField(form, 'url', 2048).trim(), events, format: optionalField(form, 'format', 32) },
      actorOf(c),
    );
    return c.html(
      <WebhooksPage
        frame={{ ...frameOf(c, 'Webhooks', '/ui/webhooks'), notice: 'Webhook added.' }}
        webhooks={listWebhooks(context)}
        created={created}
        now={context.now()}
      />,
    );
  });
  table.on('GET', '/webhooks/:id', 'read', (c) => {
    const webhook = listWebhooks(context).find((candidate) => candidate.id === c.req.param('id'));
    if (!webhook) throw new AppError('NOT_FOUND', 'no such webhook');
    // A cursor that is not one (an old link, a typo) shows the first page.
    const after = decodeCursor(c.req.query('cursor') ?? '', timeAndIdKey);
    const { deliveries, nextCursor } = webhookDeliveries(context, webhook.id, { limit: DELIVERIES_PER_PAGE, after });
    const older = nextCursor === null ? undefined : `/ui/webhooks/${webhook.id}?cursor=${nextCursor}`;
    return c.html(
      <DeliveriesPage
        frame={frameOf(c, 'Webhook deliveries', '/ui/webhooks')}
        webhook={webhook}
        deliveries={deliveries}
        older={older}
        now={context.now()}
      />,
    );
  });
  table.on('POST', '/webhooks/:id/test', 'admin', (c) => {
    sendTestEvent(context, c.req.param('id'), actorOf(c));
    return c.redirect(done(`/ui/webhooks/${c.req.param('id')}`, 'test-sent'), 303);
  });
  table.on('POST', '/webhooks/:id/remove', 'admin', (c) => {
    removeWebhook(context, c.req.param('id'), actorOf(c));
    return c.redirect(done('/ui/webhooks', 'webhook-removed'), 303);
  });

  table.on('GET', '/audit', 'read', (c) => {
    // A cursor that is not one (an old link, a typo) shows the first page.
    const after = decodeCursor(c.req.query('cursor') ?? '', integerIdKey);
    const { entries, nextCursor } = listAuditPage(context.db, { limit: AUDIT_PER_PAGE, after });
    const older = nextCursor === null ? undefined : `/ui/audit?cursor=${nextCursor}`;
    return c.html(
      <AuditPage
        frame={frameOf(c, 'Audit log', '/ui/audit')}
        entries={entries}
        older={older}
        newer={after === undefined ? undefined : '/ui/audit'}
        now={context.now()}
      />,
    );
  });

  app.all('*', (c) => {
    throw new AppError('NOT_FOUND', `no page at ${c.req.path}`);
  });
  app.onError((error, c) => {
    const { status, message, retryAfterSeconds } = describeError(error);
    if (status >= 500) logError(error);
    if (retryAfterSeconds !== undefined) c.header('Retry-After', String(retryAfterSeconds));
    const session = c.get('session');
    // After a failed form, back to the page the form was on.
    const back = c.req.method === 'POST' ? pageOfForm(c.req.path) : '/ui';
    const title = status === 401 ? 'Log in again' : status === 403 ? 'Refused' : status === 404 ? 'Not found' : 'That did not work';
    return c.html(
      <ErrorPage
        title={title}
        message={message}
        back={status === 401 ? '/ui/login' : back}
        {...(session ? { csrfToken: session.csrfToken } : {})}
      />,
      status,
    );
  });
  return table;
}

function describeError(error: unknown): { status: ContentfulStatusCode; message: string; retryAfterSeconds?: number | undefined } {
  const expected = asExpectedError(error);
  if (expected) return { status: STATUS_BY_CODE[expected.code], message: expected.message, retryAfterSeconds: expected.retryAfterSeconds };
  if (error instanceof HTTPException && error.status === 403) {
    return { status: 403, message: 'This form was not sent from this page: a form from another site may not change anything here.' };
  }
  if (error instanceof HTTPException && error.status < 500)
    return { status: error.status as ContentfulStatusCode, message: error.message || 'bad request' };
  return { status: 500, message: 'Something went wrong on the server; see its log.' };
}

/** /ui/hosts/web1/full-access/close → /ui/hosts/web1; /ui/tokens → /ui/tokens. */
function pageOfForm(path: string): string {
  const host = /^\/ui\/hosts\/([a-z0-9-]+)\//.exec(path);
  if (host) return `/ui/hosts/${host[1]}`;
  const section = /^\/ui\/(enrollments|maintainers|tokens|webhooks)\b/.exec(path);
  return section ? `/ui/${section[1]}` : '/ui';
}

/** The hosts a grant or revoke form names ("web1, web2"), or its "all" box. */
function hostSelectionOf(form: FormFields): HostSelection {
  return { hosts: splitHostNames(optionalField(form, 'hosts', 32_768) ?? ''), all: optionalField(form, 'all') === 'yes' };
}

/** One setting of the host page's forms; an empty value clears it (no quota, anywhere, the default, no checks, no ping). */
function settingChange(form: FormFields): HostChanges {
  const setting = requiredField(form, 'setting', 32);
  const value = requiredField(form, 'value', 2048, { allowEmpty: true }).trim();
  if (!Object.hasOwn(HOST_SETTINGS, setting)) throw new AppError('BAD_REQUEST', `no setting called "${setting}"`);
  if (setting === 'maxSessions') return { maxSessions: value };
  return { [setting]: value === '' ? null : value };
}

function matchesFilter(host: ReturnType<typeof listHostSummaries>[number], show: HostFilter): boolean {
  switch (show) {
    case 'all':
      return true;
    case 'attention':
      return host.problems.some((problem) => problem !== 'disabled');
    case 'ok':
      return host.backupStatus === 'ok';
    case 'disabled':
      return host.status === 'disabled';
    default:
      return host.problems.includes(show);
  }
}

/** A host's entries in the audit log: about its name, and about the enrollment that made it. */
function auditTargetsOf(context: ServerContext, name: string): string[] {
  const enrollmentId = findLiveHost(context.db, name)?.enrollmentId;
  return enrollmentId ? [name, enrollmentId] : [name];
}

async function restorePointsOf(context: ServerContext, name: string): Promise<HostPageData['restorePoints']> {
  if (!context.readRestorePoints)
    return { unavailable: 'Restore points are listed where the server runs: borgctl hosts restore NAME --list.' };
  try {
    return await context.readRestorePoints(name);
  } catch (error) {
    return { unavailable: `The server could not read the repository's commits: ${(error as Error).message}` };
  }
}
