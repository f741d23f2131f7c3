import request from 'supertest';
import { AlexaSimulator, createAlexaClient, Region } from '../support/alexa';
import { browserFixture, BrowserSession, describeInBrowser, NO_PROBLEMS, VIEWPORT_NAMES, ViewportName } from '../support/browser';
import { createUser, TEST_PASSWORD } from '../support/context';
import { auditPage } from '../support/page-audit';

/**
 * The linking flow as the user sees it: the Alexa app opens our authorization URL in its web
 * view on a phone, the user signs in and consents, and the web view lands on Alexa's redirect URI.
 */
jest.setTimeout(90_000);

describeInBrowser('account linking in a real browser', () => {
  const fixture = browserFixture();
  const open = fixture.open;

  /** A user and an Alexa skill registered for them to link, as Alexa opens the authorization URL. */
  async function setUp(region: Region) {
    const user = await createUser(fixture.ctx, { name: 'Phone Cook' });
    const alexa = new AlexaSimulator(fixture.ctx.app, await createAlexaClient(fixture.ctx), { region });
    return { user, alexa };
  }

  /** Opens the authorization URL signed out and arrives at the login page for our account. */
  async function openAuthorization(session: BrowserSession, alexa: AlexaSimulator): Promise<void> {
    const { page } = session;
    await page.goto(alexa.authorizationPath());
    await page.waitForURL((u) => u.pathname === '/login');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in');
    await expect(page.locator('.hint').textContent()).resolves.toContain('not your Amazon account');
  }

  async function reachConsent(session: BrowserSession, email: string): Promise<void> {
    const { page } = session;
    await page.waitForURL((u) => u.pathname === '/oauth/authorize');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Connect Recipe Reader for Alexa');
    // The session made at sign-in carried over: the consent page knows who is signed in.
    await expect(page.locator('main').textContent()).resolves.toContain(email);
  }

  /** Presses Allow or Deny and returns where the web view ended up: Alexa's redirect URI. */
  async function decide(session: BrowserSession, alexa: AlexaSimulator, decision: 'Allow' | 'Deny'): Promise<URL> {
    const { page } = session;
    await page.getByRole('button', { name: decision, exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(alexa.redirectUri));
    await expect(page.locator('body').textContent()).resolves.toContain('Linked'); // the hop was not blocked
    expect(session.alexaRedirects).toEqual([page.url()]);
    const location = new URL(page.url());
    expect(`${location.origin}${location.pathname}`).toBe(alexa.redirectUri);
    expect(location.searchParams.get('state')).toBe(alexa.state); // byte for byte, with = + and /
    expect(location.search).not.toMatch(/state=[^&]*\+/); // a + travels as %2B, never as a space
    return location;
  }

  const regionFor = (viewport: ViewportName, i: number): Region => (['NA', 'EU', 'FE'] as const)[(VIEWPORT_NAMES.indexOf(viewport) + i) % 3];

  describe('the checks themselves', () => {
    /** Serves a made-up page on our origin with the given CSP, as if the app had rendered it. */
    async function fakePage(session: BrowserSession, path: string, csp: string, html: string): Promise<void> {
      await session.context.route(`${session.origin}${path}`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', headers: { 'Content-Security-Policy': csp }, body: `<!doctype html><html lang="en"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Canary</title>${html}` }),
      );
    }

    it('when a page breaks our CSP, or a CSP with form-action blocks the hop to Alexa, then the session reports it', async () => {
      const csp = (await request(fixture.ctx.app).get('/healthz')).headers['content-security-policy'];
      expect(csp).not.toContain('form-action');
      const session = await open('phone');
      const { page } = session;

      await fakePage(session, '/canary/inline', csp, '<script>document.title = "ran"</script><p>x</p>');
      await page.goto('/canary/inline');
      await expect(page.title()).resolves.toBe('Canary');
      expect(session.consoleErrors).toEqual([expect.stringContaining("violates the following Content Security Policy directive 'script-src 'none''")]);

      // helmet's default form-action 'self': Chrome applies it to the redirect after the POST.
      const { alexa } = await setUp('NA');
      await fakePage(session, '/canary/consent', `${csp}; form-action 'self'`, '<form method="post" action="/canary/decide"><button>Allow</button></form>');
      await session.context.route(`${session.origin}/canary/decide`, (route) => route.fulfill({ status: 302, headers: { Location: `${alexa.redirectUri}?code=x&state=y` } }));
      await page.goto('/canary/consent');
      const blocked = page.waitForEvent('console', (m) => m.text().includes('form-action'));
      await page.getByRole('button', { name: 'Allow' }).click();
      await blocked;
      expect(session.consoleErrors).toEqual([expect.anything(), expect.stringContaining("violates the following Content Security Policy directive: \"form-action 'self'\"")]);
      expect(session.alexaRedirects).toEqual([]);
      expect(page.url()).not.toContain('amazon');
    });

    it('when a page has an unlabelled field, faint text, a too-wide box and a button Tab skips, then the audit names each', async () => {
      const session = await open('phone');
      await fakePage(
        session,
        '/canary/audit',
        "default-src 'self'; style-src 'unsafe-inline'",
        '<input name="q"><p style="color:#aaa">faint</p><div style="width:500px">wide</div><button tabindex="-1">Skipped</button><button style="outline:none">Plain</button>',
      );
      await session.page.goto('/canary/audit');
      expect(await auditPage(session.page)).toEqual([
        'no label: <input name="q" id="">',
        expect.stringMatching(/^contrast 2\.\d+ < 4\.5: "faint"/),
        expect.stringMatching(/^the page scrolls sideways: 5\d\dpx wide in a 390px viewport; sticking out: <div class="">/),
        'not reachable with Tab: <button> "Skipped"',
        'no visible focus: <button> "Plain"',
      ]);
    });
  });

  describe.each(VIEWPORT_NAMES)('at %s size', (viewport) => {
    it('when the user signs in and allows, then Alexa receives a working code and the exact state, with nothing blocked or sent elsewhere', async () => {
      const { user, alexa } = await setUp(regionFor(viewport, 0));
      const session = await open(viewport);
      await openAuthorization(session, alexa);
      expect(await session.screenshotAndAudit('login')).toEqual([]);
      await session.signIn(user.email, TEST_PASSWORD);
      await reachConsent(session, user.email);
      expect(await session.screenshotAndAudit('consent')).toEqual([]);
      // Deny and Allow sit side by side, level and the same size, at either width.
      const [deny, allow] = await Promise.all(['Deny', 'Allow'].map((name) => session.page.getByRole('button', { name, exact: true }).boundingBox()));
      expect({ y: allow!.y, height: allow!.height }).toEqual({ y: deny!.y, height: deny!.height });

      const location = await decide(session, alexa, 'Allow');
      const code = location.searchParams.get('code');
      expect(code).toMatch(/^lb_ac_/);
      expect(location.searchParams.get('error')).toBeNull();
      expect((await alexa.exchange(code!)).status).toBe(200);
      // No CSP violation on the redirect after the consent POST (Chrome applies form-action to it).
      expect(session.problems()).toEqual(NO_PROBLEMS);
    });

    it('when the user denies, then Alexa receives access_denied with the exact state and no code', async () => {
      const { user, alexa } = await setUp(regionFor(viewport, 1));
      const session = await open(viewport);
      await openAuthorization(session, alexa);
      await session.signIn(user.email, TEST_PASSWORD);
      await reachConsent(session, user.email);

      const location = await decide(session, alexa, 'Deny');
      expect(location.searchParams.get('error')).toBe('access_denied');
      expect(location.searchParams.get('code')).toBeNull();
      expect(session.problems()).toEqual(NO_PROBLEMS);
    });

    it('when the password is wrong, then the login page says so inline (no pop-up), and the next try still reaches consent', async () => {
      const { user, alexa } = await setUp(regionFor(viewport, 2));
      const session = await open(viewport);
      const { page } = session;
      await openAuthorization(session, alexa);
      await session.signIn(user.email, 'not the password');

      await expect(page.getByRole('alert').textContent()).resolves.toContain('Incorrect email or password.');
      expect(new URL(page.url()).pathname).toBe('/login');
      await expect(page.getByLabel('Email').inputValue()).resolves.toBe(user.email);
      expect(await session.screenshotAndAudit('login-error')).toEqual([]);

      await session.signIn(user.email, TEST_PASSWORD);
      await reachConsent(session, user.email);
      const location = await decide(session, alexa, 'Allow');
      expect(location.searchParams.get('code')).toMatch(/^lb_ac_/);
      // Chrome logs a document's error status as a console error: the failed sign-in's re-rendered
      // form (400: a form error, not an HTTP authentication challenge) is the only one.
      expect(session.problems()).toEqual({ ...NO_PROBLEMS, consoleErrors: [expect.stringContaining('the server responded with a status of 400')] });
    });

    it('when the client is unknown, then an error page is shown and the browser goes nowhere else', async () => {
      const alexa = new AlexaSimulator(fixture.ctx.app, await createAlexaClient(fixture.ctx));
      const session = await open(viewport);
      const { page } = session;
      const response = await page.goto(alexa.authorizationPath({ client_id: 'no-such-client' }));
      expect(response?.status()).toBe(400);
      expect(new URL(page.url()).pathname).toBe('/oauth/authorize');
      await expect(page.getByRole('alert').textContent()).resolves.not.toBe('');
      expect(await session.screenshotAndAudit('error')).toEqual([]);
      expect(session.alexaRedirects).toEqual([]);
      expect(session.problems()).toEqual({ ...NO_PROBLEMS, consoleErrors: [expect.stringContaining('the server responded with a status of 400')] });
    });
  });
});
