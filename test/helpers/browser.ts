import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/**
 * Debian's headless Chromium driven by playwright-core: never a browser download. `.ci/run`
 * installs the `chromium` package when it is missing, as it does redis-server.
 */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags that keep the browser off the network and quiet: it talks to 127.0.0.1 only. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser with a fresh profile, and what the page reported as errors. */
export interface Browser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors, failed requests and uncaught exceptions of the page, as they came. */
  readonly errors: string[];
  close(): Promise<void>;
}

/** Launches Chromium with a profile of its own (a fresh --user-data-dir) and opens a page. */
export async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'console-browser-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`exception: ${error.message}`));
  page.on('requestfailed', (request) => {
    // The event stream is cut when the test closes the page: not the page's failure.
    if (!request.url().endsWith('/events')) errors.push(`request failed: ${request.url()}`);
  });
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
