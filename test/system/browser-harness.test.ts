import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openWatchedPage, PHONE, saveScreenshot, scrollsSideways, type TestBrowser } from '../support/browser.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The browser harness itself, against a tiny page served on loopback: it must
 * see what a developer's console would show, or the admin page's "no console
 * errors" checks would pass on nothing.
 */

const STRICT_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'";
const COMMAND = 'curl -fsS http://127.0.0.1/enroll | sh -s -- --token abc';

function page(body: string, head = ''): Response {
  return new Response(
    `<!doctype html><html><head><title>harness</title><meta name="viewport" content="width=device-width">${head}</head><body>${body}</body></html>`,
    {
      headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': STRICT_CSP },
    },
  );
}

function script(source: string): Response {
  return new Response(source, { headers: { 'content-type': 'text/javascript' } });
}

function makeHarnessApp(): Hono {
  const app = new Hono();
  app.get('/favicon.ico', () => new Response(null, { status: 204 }));
  app.get('/text', () => page('<p id="out">waiting</p><script src="/set-text.js"></script>'));
  app.get('/set-text.js', () => script("document.getElementById('out').textContent = 'set by script';"));
  app.get('/copy', () => page(`<code id="command">${COMMAND}</code><button id="copy">Copy</button><script src="/copy.js"></script>`));
  app.get('/copy.js', () =>
    script(
      "document.getElementById('copy').addEventListener('click', () => navigator.clipboard.writeText(document.getElementById('command').textContent));",
    ),
  );
  app.get('/inline', () => page("<p id=\"out\">waiting</p><script>document.getElementById('out').textContent = 'ran';</script>"));
  app.get('/throws', () => page('<script src="/throw.js"></script>'));
  app.get('/throw.js', () => script("throw new Error('broken on purpose');"));
  app.get('/forbidden', () => page('<img src="/secret.png" alt="">'));
  app.get('/secret.png', () => new Response('no', { status: 403 }));
  // Inline styles are refused by the CSP too, so the wide box gets its width from a stylesheet.
  app.get('/wide', () => page('<div id="wide">wide</div>', '<link rel="stylesheet" href="/wide.css">'));
  app.get('/wide.css', () => new Response('#wide { width: 600px; height: 20px; }', { headers: { 'content-type': 'text/css' } }));
  return app;
}

describe('the browser harness', () => {
  let browser: TestBrowser;
  let server: ServerType;
  let baseUrl: string;

  beforeAll(async () => {
    const app = makeHarnessApp();
    baseUrl = await new Promise<string>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}`));
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('records nothing for a page whose external script runs cleanly', async () => {
    const watched = await openWatchedPage(browser, baseUrl);
    try {
      await watched.page.goto(`${baseUrl}/text`);
      await watched.page.getByText('set by script').waitFor();
      expect(watched.problems).toEqual([]);
    } finally {
      await watched.close();
    }
  });

  it('records an inline script that the Content-Security-Policy blocks', async () => {
    const watched = await openWatchedPage(browser, baseUrl);
    try {
      await watched.page.goto(`${baseUrl}/inline`, { waitUntil: 'load' });
      expect(await watched.page.textContent('#out')).toBe('waiting');
      expect(watched.problems.some((problem) => problem.includes('Content Security Policy'))).toBe(true);
    } finally {
      await watched.close();
    }
  });

  it('records an exception the page throws', async () => {
    const watched = await openWatchedPage(browser, baseUrl);
    try {
      await watched.page.goto(`${baseUrl}/throws`, { waitUntil: 'load' });
      expect(watched.problems).toContain('uncaught: broken on purpose');
    } finally {
      await watched.close();
    }
  });

  it('records a refused resource unless the test allows it', async () => {
    const refused = await openWatchedPage(browser, baseUrl);
    const allowed = await openWatchedPage(browser, baseUrl);
    try {
      allowed.allow(/status of 403/);
      await refused.page.goto(`${baseUrl}/forbidden`, { waitUntil: 'load' });
      await allowed.page.goto(`${baseUrl}/forbidden`, { waitUntil: 'load' });
      expect(refused.problems.some((problem) => problem.includes('status of 403'))).toBe(true);
      expect(allowed.problems).toEqual([]);
    } finally {
      await refused.close();
      await allowed.close();
    }
  });

  it('reads what a Copy button put on the clipboard', async () => {
    const watched = await openWatchedPage(browser, baseUrl);
    try {
      await watched.page.goto(`${baseUrl}/copy`);
      await watched.page.getByRole('button', { name: 'Copy' }).click();
      expect(await watched.page.evaluate(() => navigator.clipboard.readText())).toBe(COMMAND);
      expect(watched.problems).toEqual([]);
    } finally {
      await watched.close();
    }
  });

  it('writes a full-page PNG under test-artifacts/screenshots with a sanitised name', async () => {
    const watched = await openWatchedPage(browser, baseUrl);
    try {
      await watched.page.goto(`${baseUrl}/text`);
      const path = await saveScreenshot(watched.page, 'harness / text page');
      expect(path).toMatch(/test-artifacts\/screenshots\/harness-text-page\.png$/);
      expect(readFileSync(path).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      await watched.close();
    }
  });

  it('tells a page 600 px wide on a phone from one that fits', async () => {
    const phone = await openWatchedPage(browser, baseUrl, { device: PHONE });
    try {
      await phone.page.goto(`${baseUrl}/text`);
      expect(await scrollsSideways(phone.page)).toBe(false);
      await phone.page.goto(`${baseUrl}/wide`);
      expect(await scrollsSideways(phone.page)).toBe(true);
      expect(phone.problems).toEqual([]);
    } finally {
      await phone.close();
    }
  });
});

/** Living (not zombie) processes in a process group, from /proc. */
function livingProcessesInGroup(processGroupId: number): number[] {
  const living: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended while we looked
    }
    const [state, , groupId] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state !== 'Z' && Number(groupId) === processGroupId) living.push(Number(entry));
  }
  return living;
}

async function waitForGroupToEnd(processGroupId: number): Promise<void> {
  await waitFor("chromium's processes to end", () => (livingProcessesInGroup(processGroupId).length === 0 ? true : undefined));
}

describe('closing the browser', () => {
  it('leaves no chromium process behind', async () => {
    const browser = await launchBrowser();
    const watched = await openWatchedPage(browser, 'http://127.0.0.1');
    await watched.page.setContent('<p>a renderer</p>');
    expect(livingProcessesInGroup(browser.processId).length).toBeGreaterThan(1);
    await browser.close();
    await waitForGroupToEnd(browser.processId);
  });

  it('kills a chromium that hangs instead of closing', async () => {
    const browser = await launchBrowser();
    process.kill(browser.processId, 'SIGSTOP');
    await browser.close();
    await waitForGroupToEnd(browser.processId);
  });
});
