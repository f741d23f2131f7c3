import { BridgeAlexa, BridgeCredentials, cliWithStdin, startStrictUpstream, StrictUpstream, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { browserFixture, describeInBrowser } from '../support/browser';
import { createUser, TEST_PASSWORD } from '../support/context';
import { startImplicitUpstream } from '../support/upstreams/implicit-upstream';

/**
 * Linking through a bridge as the user sees it on a phone: the Alexa app's web view opens the
 * bridge's authorization URI, the user signs in with their Linkbridge account, passes through the
 * upstream (oidc-provider, strict rotation), and the web view lands on Alexa's redirect URI with
 * our code and Alexa's exact state. The code then gives Alexa the upstream's token.
 */
jest.setTimeout(90_000);

describeInBrowser('linking through a bridge in a real browser', () => {
  const fixture = browserFixture();
  let upstream: StrictUpstream;
  let bridge: BridgeCredentials;

  beforeAll(async () => {
    const origin = await originOf();
    const name = uniqueBridgeName('e2e');
    upstream = await startStrictUpstream(`${origin}/bridge/${name}/callback`);
    const vendorId = uniqueVendor();
    const created = await cliWithStdin(
      ['bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', origin, '--authorize-url', `${upstream.url}/auth`, '--token-url', `${upstream.url}/token`,
        '--client-id', 'linkbridge', '--client-secret-stdin', '--pkce', '--scope', 'read=read', '--allow-http', '--client-name', 'Smart Lights', '--json'],
      upstream.clientSecret,
    );
    if (created.code !== 0) throw new Error(created.stderr);
    bridge = { name, baseUrl: origin, clientId: created.json().client_id, clientSecret: created.json().client_secret, vendorId };
  });
  afterAll(() => upstream?.stop());

  /** The fixture's origin, from a throwaway session (the fixture does not expose it otherwise). */
  async function originOf(): Promise<string> {
    const s = await fixture.open('phone');
    const origin = s.origin;
    await s.close();
    return origin;
  }

  it('when a user links through a bridge on a phone, then the web view reaches Alexa with our code and the exact state, and the code gives the upstream token', async () => {
    const user = await createUser(fixture.ctx, { name: 'Phone Owner' });
    const alexa = new BridgeAlexa(bridge, { scope: 'read', pkce: true });
    const session = await fixture.open('phone');
    const { page } = session;
    await page.goto(alexa.authorizationUrl());
    await page.waitForURL((u) => u.pathname === '/login');
    expect(await session.screenshotAndAudit('bridge-login')).toEqual([]);
    await session.signIn(user.email, TEST_PASSWORD);
    await page.waitForURL((u) => u.href.startsWith(alexa.redirectUri));
    await expect(page.locator('body').textContent()).resolves.toContain('Linked');
    const back = new URL(page.url());
    expect(back.searchParams.get('state')).toBe(alexa.state);
    const code = back.searchParams.get('code')!;
    expect(code).toMatch(/^lb_bac_/);
    const exchanged = await alexa.exchange(code);
    expect(exchanged.status).toBe(200);
    expect(exchanged.body.token_type).toBe('Bearer');
    expect(exchanged.body.refresh_token).toMatch(/^lb_brt_/);
    // Nothing went wrong on the way, and the only other origin visited is the upstream's.
    const problems = session.problems();
    expect(problems.consoleErrors).toEqual([]);
    expect(problems.dialogs).toEqual([]);
    expect(problems.popups).toBe(0);
    expect(problems.foreignRequests.every((u) => u.startsWith(upstream.url))).toBe(true);

    // The user sees the bridged app among their connected apps.
    await page.goto('/account/connections');
    await expect(page.locator('main').textContent()).resolves.toContain('Smart Lights');
    expect(await session.screenshotAndAudit('bridge-connections')).toEqual([]);
  });

  it("when the upstream offers only the implicit grant, then our callback page's script (allowed by its hash) posts the fragment and the web view reaches Alexa with our code", async () => {
    const implicit = await startImplicitUpstream();
    try {
      const origin = await originOf();
      const name = uniqueBridgeName('e2e-imp');
      implicit.setCallback(`${origin}/bridge/${name}/callback`);
      const vendorId = uniqueVendor();
      const created = await cliWithStdin(['bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', origin, '--authorize-url', `${implicit.url}/authorize`, '--client-id', implicit.clientId, '--upstream-implicit', '--allow-http', '--json']);
      if (created.code !== 0) throw new Error(created.stderr);
      const alexa = new BridgeAlexa({ name, baseUrl: origin, clientId: created.json().client_id, clientSecret: created.json().client_secret, vendorId });
      const user = await createUser(fixture.ctx);
      const session = await fixture.open('phone');
      const { page } = session;
      await page.goto(alexa.authorizationUrl());
      await page.waitForURL((u) => u.pathname === '/login');
      // Playwright's route does not catch the redirect that follows the page's POST (the request
      // is made, unrouted, to the real host): wait for the request itself instead of the page.
      const toAlexa = page.waitForRequest((r) => r.url().startsWith(alexa.redirectUri));
      await session.signIn(user.email, TEST_PASSWORD);
      const back = new URL((await toAlexa).url());
      expect(back.searchParams.get('state')).toBe(alexa.state);
      const exchanged = await alexa.exchange(back.searchParams.get('code')!);
      expect(exchanged.status).toBe(200);
      expect(exchanged.body.access_token).toBe(implicit.issued.at(-1));
      expect(session.problems().consoleErrors.filter((e) => /Content Security Policy|uncaught/i.test(e))).toEqual([]); // the script ran, no CSP violation
    } finally {
      await implicit.close();
    }
  });
});
