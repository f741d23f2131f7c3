import { BridgeAlexa, BridgeCredentials, cliWithStdin, HostJar, listen, startStrictUpstream, StrictUpstream, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createTestContext, createUser, TestContext, TEST_PASSWORD } from '../support/context';

/**
 * Bridge mode against a strict, real upstream: oidc-provider with refresh-token rotation on every
 * use and reuse detection (a rotated refresh token presented again revokes the whole grant, which
 * is what unlinks Alexa users in the field). Through the bridge the user must stay linked however
 * Alexa retries, and the upstream must never see a spent refresh token.
 */
describe('a bridge in front of a strict upstream (oidc-provider, rotation with reuse detection)', () => {
  let ctx: TestContext;
  let server: { url: string; close(): Promise<void> };
  let upstream: StrictUpstream;
  let bridge: BridgeCredentials;
  let email: string;

  beforeAll(async () => {
    ctx = createTestContext();
    server = await listen(ctx.app);
    const name = uniqueBridgeName('strict');
    upstream = await startStrictUpstream(`${server.url}/bridge/${name}/callback`);
    const vendorId = uniqueVendor();
    const created = await cliWithStdin(
      [
        'bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', server.url,
        '--authorize-url', `${upstream.url}/auth`, '--token-url', `${upstream.url}/token`, '--revocation-url', `${upstream.url}/token/revocation`,
        '--client-id', 'linkbridge', '--client-secret-stdin', '--pkce', '--scope', 'read=read', '--scope', 'write=write', '--allow-http', '--json',
      ],
      `${upstream.clientSecret}\n`,
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const out = created.json();
    bridge = { name, baseUrl: server.url, clientId: out.client_id, clientSecret: out.client_secret, vendorId };
    email = (await createUser(ctx)).email;
  }, 40000);

  afterAll(async () => {
    await upstream?.stop();
    await server?.close();
    await ctx?.close();
  });

  /** Only the control test presents a spent token (directly, not through the bridge). */
  const reusedByControl = 1;

  async function linked(): Promise<BridgeAlexa> {
    const alexa = new BridgeAlexa(bridge, { scope: 'read write' });
    await alexa.link(email);
    return alexa;
  }

  it('when Alexa links through the bridge, then it gets the upstream access token with its true expires_in, Bearer, and our own refresh handle', async () => {
    const alexa = await linked();
    const t = alexa.tokens!;
    expect(t.token_type).toBe('Bearer');
    expect(t.access_token).not.toMatch(/^lb_/); // the upstream's token, unchanged
    expect(t.expires_in).toBeGreaterThan(3590);
    expect(t.expires_in).toBeLessThanOrEqual(3600);
    expect(t.refresh_token).toMatch(/^lb_brt_/); // ours, never the upstream's
    expect(t.scope).toBe('read write');
    // At rest, the upstream tokens are sealed; our handle is only a hash.
    const rows = await ctx.knex('bridge_links').select('*');
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(t.access_token);
    expect(dump).not.toContain(t.refresh_token);
    expect((await upstream.stats()).codes).toBeGreaterThanOrEqual(1);
  });

  it('when a spent refresh token is presented to this upstream directly, then it revokes the chain (the control: the upstream is strict)', async () => {
    const alexa = await linked();
    const [row] = await ctx.knex('bridge_links').orderBy('id', 'desc').limit(1).select('id', 'refresh_token_sealed');
    const upstreamRefresh = ctx.services.secrets!.open(row.refresh_token_sealed, `bridge-link:${row.id}:refresh_token`);
    const direct = (token: string) =>
      fetch(`${upstream.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`linkbridge:${upstream.clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(),
      });
    const first = await direct(upstreamRefresh);
    expect(first.status).toBe(200);
    const rotated = (await first.json()).refresh_token as string;
    expect(rotated).not.toBe(upstreamRefresh);
    const reused = await direct(upstreamRefresh);
    expect(reused.status).toBe(400);
    expect((await reused.json()).error).toBe('invalid_grant');
    expect((await direct(rotated)).status).toBe(400); // the whole chain went
    // And so the bridge's link is over: the upstream answers invalid_grant, Alexa gets it too.
    const res = await alexa.refresh();
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('when Alexa refreshes, then it gets a new upstream access token and keeps the same handle', async () => {
    const alexa = await linked();
    const first = alexa.tokens!;
    const before = (await upstream.stats()).refreshes;
    const res = await alexa.refresh();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.access_token).not.toBe(first.access_token);
    expect(res.body.refresh_token).toBe(first.refresh_token);
    expect(res.body.token_type).toBe('Bearer');
    expect(Number.isInteger(res.body.expires_in)).toBe(true);
    expect((await upstream.stats()).refreshes).toBe(before + 1);
  });

  it('when a refresh answer is lost and Alexa retries with the same handle, then the retry succeeds, and later refreshes too, without a reused token upstream', async () => {
    const alexa = await linked();
    const handle = alexa.tokens!.refresh_token!;
    const lost = await alexa.refresh(handle); // Alexa never receives this answer
    expect(lost.status).toBe(200);
    const retry = await alexa.refresh(handle);
    expect(retry.status).toBe(200);
    expect(retry.body.access_token).toBe(lost.body.access_token); // the answer already made
    // Long after the retry window, the stored rotated token is what goes upstream.
    const window = ctx.services.bridges.timings.reuseWindowSeconds;
    ctx.services.bridges.timings.reuseWindowSeconds = 0;
    try {
      for (let i = 0; i < 3; i++) expect((await alexa.refresh(handle)).status).toBe(200);
    } finally {
      ctx.services.bridges.timings.reuseWindowSeconds = window;
    }
    const stats = await upstream.stats();
    expect(stats.reusedRefreshTokens).toBe(reusedByControl);
  });

  it('when Alexa sends several refreshes at once, then all succeed with one upstream refresh and no reused token', async () => {
    const alexa = await linked();
    const handle = alexa.tokens!.refresh_token!;
    const before = await upstream.stats();
    const answers = await Promise.all(Array.from({ length: 4 }, () => alexa.refresh(handle)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1);
    const after = await upstream.stats();
    expect(after.refreshes).toBe(before.refreshes + 1);
    expect(after.reusedRefreshTokens).toBe(reusedByControl);
  });

  it('when the user disconnects the bridged app, then the handle stops working and the upstream is told', async () => {
    const alexa = await linked();
    const before = (await upstream.stats()).revocations;
    // The same browser (still signed in) opens Connected apps and presses Revoke.
    const page = await alexa.jar.fetch(`${server.url}/account/connections`);
    const html = await page.text();
    expect(html).toContain(`${bridge.name} (bridge)`);
    const action = /action="(\/account\/connections\/\d+\/revoke)"/.exec(html)![1];
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
    const revoked = await alexa.jar.fetch(`${server.url}${action}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf }).toString() });
    expect(revoked.status).toBe(303);
    expect((await upstream.stats()).revocations).toBe(before + 1);
    const refresh = await alexa.refresh();
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('when our code is redeemed twice, then the second gets invalid_grant and the link ends', async () => {
    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    const back = await alexa.authorize(email);
    const code = back.searchParams.get('code')!;
    expect((await alexa.exchange(code)).status).toBe(200);
    const again = await alexa.exchange(code);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
    expect((await alexa.refresh()).body.error).toBe('invalid_grant');
  });

  it('when another client, a wrong secret or no credentials call the bridge token endpoint, then it is 401 invalid_client', async () => {
    const alexa = await linked();
    const wrong = new BridgeAlexa({ ...bridge, clientSecret: 'lb_cs_wrong' });
    const res = await wrong.token({ grant_type: 'refresh_token', refresh_token: alexa.tokens!.refresh_token! });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    const none = await fetch(`${server.url}/bridge/${bridge.name}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=x' });
    expect(none.status).toBe(401);
    const json = await fetch(`${server.url}/bridge/${bridge.name}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(400);
    expect((await json.json()).error).toBe('invalid_request');
    const get = await fetch(`${server.url}/bridge/${bridge.name}/token`);
    expect(get.status).toBe(405);
    const unknown = await alexa.token({ grant_type: 'refresh_token', refresh_token: 'lb_brt_nothing' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe('invalid_grant');
    const basicAndBody = await fetch(`${server.url}/bridge/${bridge.name}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${bridge.clientId}:${bridge.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: alexa.tokens!.refresh_token!, client_secret: bridge.clientSecret }).toString(),
    });
    expect(basicAndBody.status).toBe(400);
  });

  it('when the authorization request names an unknown client or an unregistered redirect URI, then an error page is shown and nothing redirects', async () => {
    const alexa = new BridgeAlexa(bridge);
    const jar = new HostJar();
    const unknown = await jar.fetch(alexa.authorizationUrl({ client_id: 'lbc_nope' }));
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('location')).toBeNull();
    const elsewhere = await jar.fetch(alexa.authorizationUrl({ redirect_uri: 'https://pitangui.amazon.com/api/skill/link/MOTHER' }));
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.headers.get('location')).toBeNull();
    const noBridge = await jar.fetch(`${server.url}/bridge/no-such-bridge/authorize`);
    expect(noBridge.status).toBe(404);
    const hostile = await jar.fetch(`${server.url}/bridge/${encodeURIComponent('../../etc')}/authorize`);
    expect(hostile.status).toBe(404);
  });

  it('when the request is proven but asks for an unknown scope or a repeated parameter, then Alexa gets the error with its exact state', async () => {
    const alexa = new BridgeAlexa(bridge, { scope: 'read admin' });
    const res = await alexa.jar.fetch(alexa.authorizationUrl());
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('invalid_scope');
    expect(back.searchParams.get('state')).toBe(alexa.state);
    const repeated = await alexa.jar.fetch(`${alexa.authorizationUrl()}&scope=read`);
    expect(new URL(repeated.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('when the callback is replayed or forged, then it shows an error page and issues nothing', async () => {
    const jar = new HostJar();
    const signedIn = new BridgeAlexa(bridge);
    // Sign in through the normal flow first so the session exists.
    await signedIn.link(email);
    const forged = await signedIn.jar.fetch(`${server.url}/bridge/${bridge.name}/callback?code=x&state=lb_btx_forged`);
    expect(forged.status).toBe(400);
    expect(forged.headers.get('location')).toBeNull();
    const anonymous = await jar.fetch(`${server.url}/bridge/${bridge.name}/callback?code=x&state=y`);
    expect(anonymous.status).toBe(303); // to the login page, never to Alexa
    expect(anonymous.headers.get('location')).toMatch(/^\/login/);
    void TEST_PASSWORD;
  });
});
