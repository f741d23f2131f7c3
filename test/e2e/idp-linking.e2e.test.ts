import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Browser } from 'playwright-core';
import request from 'supertest';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { BrowserSession, describeInBrowser, launchChromium } from '../support/browser';
import { createTestContext, TestContext, uniqueEmail } from '../support/context';
import { OidcUpstream, startOidcUpstream } from '../support/upstreams';

/**
 * Linking Alexa through another provider in Chromium at phone size: Alexa's authorization URL,
 * our login page, "Continue with" the provider (a real node-oidc-provider on loopback), its
 * login and consent pages, back to our consent, Allow, Alexa's redirect with code and state.
 * Our server must know its own public URL for the callback, so this file serves the app itself.
 */
jest.setTimeout(120_000);

describeInBrowser('linking through another provider in a real browser', () => {
  let ctx: TestContext;
  let server: Server;
  let origin: string;
  let upstream: OidcUpstream;
  let chromium: Browser;
  const sessions: BrowserSession[] = [];
  const name = `sso-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    ctx = createTestContext({ PUBLIC_URL: origin });
    server.on('request', ctx.app);
    const secret = randomBytes(24).toString('base64url');
    upstream = await startOidcUpstream([{ client_id: 'linkbridge', client_secret: secret, redirect_uris: [`${origin}/login/idp/${name}/callback`], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' }]);
    await ctx.services.idps.create({ name, type: 'oidc', displayName: 'Company SSO', issuer: upstream.issuer, clientId: 'linkbridge', clientSecret: secret, allowHttp: true });
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await chromium?.close();
    await ctx?.services.idps.remove(name, { force: true }).catch(() => undefined);
    await upstream?.stop();
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      server?.closeAllConnections();
    });
    await ctx?.close();
  });

  async function open(): Promise<BrowserSession> {
    const s = await BrowserSession.open(chromium, origin, 'phone');
    sessions.push(s);
    return s;
  }

  /** Everything but the upstream's own pages must stay on our origin. */
  const outsideUpstream = (s: BrowserSession) => s.foreignRequests.filter((u) => new URL(u).origin !== upstream.issuer);

  it('when a phone user continues with the provider, signs in and allows there, then Alexa gets a code and its exact state, and the token is theirs', async () => {
    const email = uniqueEmail('phone-sso');
    await upstream.addUser({ sub: `phone-${randomBytes(4).toString('hex')}`, email, email_verified: true, name: 'Phone SSO User', password: 'upstream password' });
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx), { region: 'FE' });
    const session = await open();
    const { page } = session;

    await page.goto(alexa.authorizationPath());
    await page.waitForURL((u) => u.pathname === '/login');
    expect(await session.screenshotAndAudit('idp-login')).toEqual([]);
    await page.getByRole('link', { name: 'Continue with Company SSO' }).click();

    await page.waitForURL((u) => u.origin === upstream.issuer);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('upstream password');
    await page.getByRole('button', { name: 'Sign in upstream' }).click();
    await page.getByRole('button', { name: 'Allow upstream' }).click();

    await page.waitForURL((u) => u.origin === origin && u.pathname === '/oauth/authorize');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Connect Recipe Reader for Alexa');
    expect(await session.screenshotAndAudit('idp-consent')).toEqual([]);
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(alexa.redirectUri));
    const location = new URL(page.url());
    expect(location.searchParams.get('state')).toBe(alexa.state);
    expect((await alexa.exchange(location.searchParams.get('code')!)).status).toBe(200);
    const me = await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${alexa.tokens!.access_token}`);
    expect(me.body).toMatchObject({ email, name: 'Phone SSO User' });

    await page.goto('/account/identities');
    await expect(page.locator('main').textContent()).resolves.toContain('Company SSO');
    expect(await session.screenshotAndAudit('idp-identities')).toEqual([]);
    expect({ ...session.problems(), foreignRequests: outsideUpstream(session) }).toEqual({ consoleErrors: [], dialogs: [], foreignRequests: [], popups: 0 });
  });

  it('when the phone user cancels at the provider, then our page offers to try again, and going back gives Alexa access_denied with its state', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const session = await open();
    const { page } = session;
    await page.goto(alexa.authorizationPath());
    await page.getByRole('link', { name: 'Continue with Company SSO' }).click();
    await page.waitForURL((u) => u.origin === upstream.issuer);
    await page.getByRole('button', { name: 'Cancel upstream' }).click();

    await page.waitForURL((u) => u.origin === origin && u.pathname.endsWith('/callback'));
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign-in cancelled');
    await expect(page.getByRole('link', { name: 'Try again' }).isVisible()).resolves.toBe(true);
    expect(await session.screenshotAndAudit('idp-cancelled')).toEqual([]);
    await page.getByRole('button', { name: 'Cancel and go back to the app' }).click();
    await page.waitForURL((u) => u.href.startsWith(alexa.redirectUri));
    const location = new URL(page.url());
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe(alexa.state);
    // The failure page answers 400 (the sign-in did not happen), which Chromium reports, like a wrong password's.
    expect({ ...session.problems(), foreignRequests: outsideUpstream(session) }).toEqual({
      consoleErrors: [expect.stringContaining('the server responded with a status of 400')],
      dialogs: [],
      foreignRequests: [],
      popups: 0,
    });
  });
});
