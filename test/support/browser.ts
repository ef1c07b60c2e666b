import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type BrowserServer, chromium, type Page } from 'playwright-core';
import { REPOSITORY_ROOT } from './sandbox.js';

/**
 * Debian's chromium, driven by playwright-core (which never downloads a
 * browser), for the tests of the admin page. Every page records what a
 * developer's console would show: errors, warnings, failed loads, CSP
 * violations and uncaught exceptions; a test expects none of them.
 */

export const CHROMIUM_PATH = '/usr/bin/chromium';
/** Screenshots of every page land here (kept after the run: test artifacts). */
export const SCREENSHOT_DIR = join(REPOSITORY_ROOT, 'test-artifacts', 'screenshots');

// This machine's network is closed: Chromium's own background traffic would only make noise.
const QUIET_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--metrics-recording-only',
  '--no-default-browser-check',
];

export interface TestBrowser {
  browser: Browser;
  /** Chromium's main process, leader of the process group that holds all of this browser's processes. */
  processId: number;
  /** Closes chromium, killing its process group if it does not close in time: none of it outlives the test file. */
  close(): Promise<void>;
}

const CLOSE_TIMEOUT_MS = 5000;

/** Chromium with a fresh profile of its own (playwright makes and removes it). */
export async function launchBrowser(): Promise<TestBrowser> {
  const server = await chromium.launchServer({ executablePath: CHROMIUM_PATH, headless: true, args: QUIET_FLAGS });
  const processId = server.process().pid;
  if (processId === undefined) throw new Error('chromium did not start');
  const browser = await chromium.connect(server.wsEndpoint());
  return { browser, processId, close: () => closeBrowser(browser, server, processId) };
}

async function closeBrowser(browser: Browser, server: BrowserServer, processId: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = Promise.all([browser.close(), server.close()]).then(
    () => true,
    () => false,
  );
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
  });
  const closedInTime = await Promise.race([closed, timedOut]);
  clearTimeout(timer);
  if (!closedInTime) await server.kill();
  killProcessGroup(processId); // a renderer or zygote left behind by a main process that exited
}

function killProcessGroup(processId: number): void {
  try {
    process.kill(-processId, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
export const DESKTOP = { viewport: { width: 1280, height: 900 } };

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Everything the console would have shown as a problem, in order. */
  problems: string[];
  /** Problems matching this are expected (a 401 page the test asks for shows "Failed to load resource … 401"). */
  allow(pattern: RegExp): void;
  close(): Promise<void>;
}

/**
 * A fresh browser context (no cookies) and page for `origin`, with clipboard
 * access and a problem recorder. `acceptSelfSigned` is for the container's own
 * certificate, which the image tests check by its pin elsewhere.
 */
export async function openWatchedPage(
  browser: TestBrowser,
  origin: string,
  { device = DESKTOP, acceptSelfSigned = false }: { device?: typeof PHONE | typeof DESKTOP; acceptSelfSigned?: boolean } = {},
): Promise<WatchedPage> {
  const context = await browser.browser.newContext({ ...device, ignoreHTTPSErrors: acceptSelfSigned });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  const allowed: RegExp[] = [];
  const problems: string[] = [];
  const record = (problem: string) => {
    if (!allowed.some((pattern) => pattern.test(problem))) problems.push(problem);
  };
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning')
      record(`console ${message.type()}: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => record(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => record(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
  page.on('response', (response) => {
    if (response.status() >= 500) record(`server error: ${response.status()} ${response.url()}`);
  });
  return {
    page,
    context,
    problems,
    allow: (pattern) => allowed.push(pattern),
    close: () => context.close(),
  };
}

/** A full-page PNG under test-artifacts/screenshots, named for what it shows. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Whether the page is wider than its layout viewport (a phone would scroll sideways).
 * Not window.innerWidth: with isMobile, chromium zooms out to fit a wide page, and
 * innerWidth grows with it.
 */
export async function scrollsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}

/**
 * Reloads the page once a second until `isShown` holds: for what the server
 * records after the fact (a session, once borg serve has gone). Fails after two minutes.
 */
export async function reloadUntil(page: Page, isShown: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; !(await isShown()); attempt += 1) {
    if (attempt > 120) throw new Error(`the page never showed ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await page.reload();
  }
}

/**
 * Options for `expect.poll` on a page: vitest's default gives up after one second, which a
 * browser on a busy machine can spend before it has drawn the change at all.
 */
export const PAGE_POLL = { timeout: 30_000, interval: 100 };
