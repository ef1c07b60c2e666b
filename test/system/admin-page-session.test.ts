import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_IDLE_MS } from '../../src/api/admin/admin-sessions.js';
import { listEnrollmentTokens } from '../../src/api/enrollment/tokens.js';
import { loadConfig } from '../../src/config.js';
import { launchBrowser, openWatchedPage, PAGE_POLL, saveScreenshot, type TestBrowser } from '../support/browser.js';
import { pickFreePorts } from '../support/sandbox.js';
import { createTestAdminToken, makeTestApp, makeTestContext, TEST_ENVIRONMENT, type TestContext } from '../support/test-context.js';

/**
 * The session's end as a browser meets it: the real app on a real HTTP
 * server with a clock the test moves, so that 30 idle minutes pass at once.
 */

describe('an admin page session in chromium', () => {
  let browser: TestBrowser;
  let server: ServerType;
  let test: TestContext;
  let adminToken: string;
  let baseUrl: string;

  beforeAll(async () => {
    const [port = 0] = await pickFreePorts(1);
    baseUrl = `http://127.0.0.1:${port}`;
    test = await makeTestContext({ config: loadConfig({ ...TEST_ENVIRONMENT, BORG_SERVER_PUBLIC_URL: baseUrl }) });
    adminToken = createTestAdminToken(test.context);
    const app = makeTestApp(test.context);
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('sends an admin whose session went idle to the login page, and back to the page after it', async () => {
    const admin = await openWatchedPage(browser, baseUrl);
    try {
      await admin.page.goto(`${baseUrl}/ui/tokens`);
      await admin.page.getByLabel('Admin token').fill(adminToken);
      await admin.page.getByRole('button', { name: 'Log in' }).click();
      await admin.page.waitForURL(`${baseUrl}/ui/tokens`);

      test.clock.advance(SESSION_IDLE_MS + 1000);
      await admin.page.getByRole('link', { name: 'Hosts' }).click();
      await admin.page.waitForURL(`${baseUrl}/ui/login?next=%2Fui%2Fhosts`);
      await saveScreenshot(admin.page, 'session-expired');
      await admin.page.getByLabel('Admin token').fill(adminToken);
      await admin.page.getByRole('button', { name: 'Log in' }).click();
      await admin.page.waitForURL(`${baseUrl}/ui/hosts`);
      expect(admin.problems).toEqual([]);
    } finally {
      await admin.close();
    }
  });

  it('refuses a form sent after the session ended, and mints nothing', async () => {
    const admin = await openWatchedPage(browser, baseUrl);
    admin.allow(/status of 401/);
    try {
      await admin.page.goto(`${baseUrl}/ui/login`);
      await admin.page.getByLabel('Admin token').fill(adminToken);
      await admin.page.getByRole('button', { name: 'Log in' }).click();
      await admin.page.getByRole('link', { name: 'Tokens' }).click();
      // The page must be served before the clock moves: a slow browser would otherwise ask for it
      // with the session already ended, and find no form to send.
      await admin.page.waitForURL(`${baseUrl}/ui/tokens`);
      await admin.page.getByRole('button', { name: 'Mint token' }).waitFor();
      const tokensBefore = listEnrollmentTokens(test.context).length;

      test.clock.advance(SESSION_IDLE_MS + 1000);
      await admin.page.getByRole('button', { name: 'Mint token' }).click();
      await expect.poll(() => admin.page.getByRole('alert').textContent(), PAGE_POLL).toContain('your session has ended');
      expect(listEnrollmentTokens(test.context)).toHaveLength(tokensBefore);
      expect(await admin.page.getByRole('link', { name: 'Back' }).getAttribute('href')).toBe('/ui/login');
      expect(admin.problems).toEqual([]);
    } finally {
      await admin.close();
    }
  });
});
