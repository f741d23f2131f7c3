import { mkdirSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import path from 'node:path';
import { Browser, BrowserContext, BrowserContextOptions, chromium, Page, Request } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium, NO_CHROMIUM } from './chromium';
import { Env } from '../../src/config/config';
import { createTestContext, TestContext } from './context';
import { auditPage } from './page-audit';

/**
 * Browser sessions against the real app: Chromium found by ./chromium, driven by playwright-core.
 */

export const ARTIFACTS_DIR = path.resolve(__dirname, '../../test-artifacts/e2e');

const chromiumPath = findChromium();

/**
 * `describe` when a Chromium is found; otherwise a skipped block (globalSetup has printed why),
 * or, with REQUIRE_E2E=1, a failing suite: CI can never pass by silently skipping the browser.
 */
export function describeInBrowser(name: string, fn: () => void): void {
  if (chromiumPath) return describe(name, fn);
  if (process.env.REQUIRE_E2E === '1') throw new Error(`REQUIRE_E2E=1 but ${NO_CHROMIUM}`);
  describe.skip(name, fn);
}

/** Playwright gives every launch a fresh, temporary user-data dir and removes it on close. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

/** A phone as in the Alexa app's web view (iPhone 14 size), and a desktop window. */
export const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false },
} satisfies Record<string, BrowserContextOptions>;
export type ViewportName = keyof typeof VIEWPORTS;
export const VIEWPORT_NAMES = Object.keys(VIEWPORTS) as ViewportName[];

/** The real app listening on a random loopback port, as the browser reaches it. */
export async function serve(ctx: TestContext): Promise<{ origin: string; close(): Promise<void> }> {
  const server = ctx.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // the browser's keep-alive sockets
      }),
  };
}

/** The hosts of the three regional Alexa redirect URIs (alexa.md). */
export const ALEXA_HOSTS = ['pitangui.amazon.com', 'layla.amazon.com', 'alexa.amazon.co.jp'];

/**
 * One browser session (a fresh context: no cookies) with everything the page does recorded:
 * console errors (CSP violations are reported there), uncaught errors,
 * dialogs (alert/confirm: there must be none), pop-ups, and every request to another origin.
 * Requests to Alexa's redirect hosts are answered here with a plain page, never sent out.
 */
export class BrowserSession {
  readonly consoleErrors: string[] = [];
  readonly dialogs: string[] = [];
  readonly foreignRequests: string[] = [];
  /** Redirects from our server to Alexa's redirect hosts: the expected last hop of a linking flow. */
  readonly alexaRedirects: string[] = [];
  private pageCount = 0;

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    readonly origin: string,
    readonly viewport: ViewportName,
  ) {}

  static async open(browser: Browser, origin: string, viewport: ViewportName): Promise<BrowserSession> {
    const context = await browser.newContext({ ...VIEWPORTS[viewport], baseURL: origin, locale: 'en-US' });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(20_000);
    let session: BrowserSession | undefined;
    const pending: Page[] = [];
    context.on('page', (p) => (session ? session.watch(p) : pending.push(p)));
    context.on('request', (r) => session?.onRequest(r));
    for (const host of ALEXA_HOSTS) {
      await context.route(`https://${host}/**`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Alexa</title><p>Linked</p>' }),
      );
    }
    const page = await context.newPage();
    session = new BrowserSession(context, page, origin, viewport);
    for (const p of pending) session.watch(p);
    return session;
  }

  private watch(p: Page): void {
    this.pageCount += 1;
    p.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(`${p.url()}: ${m.text()}`);
    });
    p.on('pageerror', (e) => this.consoleErrors.push(`${p.url()}: uncaught ${e.message}`));
    p.on('dialog', (d) => {
      this.dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
  }

  private onRequest(r: Request): void {
    const url = new URL(r.url());
    if (url.origin === this.origin) return;
    if (ALEXA_HOSTS.includes(url.hostname) && r.isNavigationRequest() && r.frame() === this.page.mainFrame()) {
      // Allowed only as the redirect our server answers with. Chromium may then issue the same
      // navigation once more as it moves the cross-origin page to another process (COOP).
      const from = r.redirectedFrom()?.url();
      if (from && new URL(from).origin === this.origin) {
        this.alexaRedirects.push(r.url());
        return;
      }
      if (this.alexaRedirects.includes(r.url())) return;
    }
    this.foreignRequests.push(r.url());
  }

  /** What must hold for any page of ours: nothing to report, and a single window. */
  problems(): { consoleErrors: string[]; dialogs: string[]; foreignRequests: string[]; popups: number } {
    return { consoleErrors: this.consoleErrors, dialogs: this.dialogs, foreignRequests: this.foreignRequests, popups: this.pageCount - 1 };
  }

  /**
   * Saves a screenshot of the page as a test artifact (test-artifacts/e2e/<viewport>-<name>.png),
   * then audits it (labels, keyboard, contrast, width) and returns the problems found.
   */
  async screenshotAndAudit(name: string, opts: { fullPage?: boolean } = {}): Promise<string[]> {
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    await this.page.screenshot({ path: path.join(ARTIFACTS_DIR, `${this.viewport}-${name}.png`), fullPage: opts.fullPage ?? true });
    return auditPage(this.page);
  }

  /** Fills in and sends the sign-in form of the page. */
  async signIn(email: string, password: string): Promise<void> {
    await this.page.getByLabel('Email').fill(email);
    await this.page.getByLabel('Password').fill(password);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
  }

  close(): Promise<void> {
    return this.context.close();
  }
}

export const NO_PROBLEMS = { consoleErrors: [], dialogs: [], foreignRequests: [], popups: 0 };

/**
 * For a test file: the real app on a loopback port and one Chromium for the whole file, each
 * test opening its own fresh browser session; everything is closed after the file.
 */
export function browserFixture(env: () => Env = () => ({})) {
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  let browser: Browser | undefined;
  const sessions: BrowserSession[] = [];
  const fixture = {
    ctx: undefined as unknown as TestContext,
    async open(viewport: ViewportName): Promise<BrowserSession> {
      const session = await BrowserSession.open(browser!, server!.origin, viewport);
      sessions.push(session);
      return session;
    },
  };
  beforeAll(async () => {
    fixture.ctx = createTestContext(env());
    server = await serve(fixture.ctx);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await browser?.close();
    await server?.close();
    await fixture.ctx?.close();
  });
  return fixture;
}
