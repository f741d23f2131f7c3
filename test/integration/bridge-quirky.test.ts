import { logger } from '../../src/lib/logger';
import { accountLinkedEvent, alexaUserId, skillDisabledEvent } from '../support/alexa-envelopes';
import { BridgeAlexa, BridgeCredentials, cliWithStdin, servedTestContext, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createUser, TestContext } from '../support/context';
import { QuirkyUpstream, startQuirkyUpstream } from '../support/upstreams/quirky-upstream';

/**
 * A bridge in front of an upstream Alexa cannot use directly: JSON-only token requests,
 * credentials only in the body, nested camelCase answer fields, expiresIn as a string, no
 * token_type, comma-separated scopes, extra parameters and no state echo. Also: what the bridge
 * does when that upstream is down, slow, answers something unreadable, or ends a grant.
 */
let ctx: TestContext;
let server: { url: string; close(): Promise<void> };
let served: { close(): Promise<void> };
beforeAll(async () => {
  ({ ctx, server, ...served } = await servedTestContext());
});
afterAll(() => served.close());

async function quirkyBridge(extra: string[] = []): Promise<{ upstream: QuirkyUpstream; bridge: BridgeCredentials }> {
  const upstream = await startQuirkyUpstream();
  const name = uniqueBridgeName('quirky');
  upstream.setCallback(`${server.url}/bridge/${name}/callback`);
  const vendorId = uniqueVendor();
  const created = await cliWithStdin(
    [
      'bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', server.url,
      '--authorize-url', `${upstream.url}/oauth2/auth`, '--token-url', `${upstream.url}/api/token`, '--revocation-url', `${upstream.url}/api/revoke`,
      '--client-id', upstream.clientId, '--client-secret-stdin',
      '--token-auth', 'body', '--token-body', 'json',
      '--field', 'access_token=data.accessToken', '--field', 'refresh_token=data.refreshToken', '--field', 'expires_in=data.expiresIn', '--field', 'token_type=data.tokenType',
      '--expires-in-default', '900',
      '--scope', 'read=profile.read', '--scope', 'control=devices.control', '--scope-separator', ',',
      '--authorize-param', 'audience=https://api.quirky.test', '--token-param', 'tenant=acme',
      '--no-state-echo', '--allow-http', '--json', ...extra,
    ],
    upstream.clientSecret,
  );
  if (created.code !== 0) throw new Error(created.stderr);
  const out = created.json();
  expect(out.upstream_callback_url).toBe(`${server.url}/bridge/${name}/callback`);
  return { upstream, bridge: { name, baseUrl: server.url, clientId: out.client_id, clientSecret: out.client_secret, vendorId } };
}

describe('a bridge in front of a non-conforming upstream', () => {
  let upstream: QuirkyUpstream;
  let bridge: BridgeCredentials;
  let email: string;

  beforeAll(async () => {
    ({ upstream, bridge } = await quirkyBridge());
    email = (await createUser(ctx)).email;
  });
  afterAll(() => upstream.close());
  afterEach(() => {
    upstream.outage = false;
    upstream.hangMs = 0;
    upstream.expiresIn = '7200';
  });

  const linked = async () => {
    const alexa = new BridgeAlexa(bridge, { scope: 'read control' });
    await alexa.link(email);
    return alexa;
  };

  it('when Alexa links, then the quirks are translated: a standard answer with an integer expires_in from the string, Bearer, and Alexa\'s scopes', async () => {
    const alexa = await linked();
    const t = alexa.tokens!;
    expect(t.access_token).toMatch(/^q_at_/);
    expect(t.token_type).toBe('Bearer');
    expect(t.expires_in).toBeGreaterThan(7190);
    expect(t.expires_in).toBeLessThanOrEqual(7200);
    expect(t.refresh_token).toMatch(/^lb_brt_/);
    expect(t.scope).toBe('read control');
    expect(upstream.stats.rejected).toEqual([]);
    const refreshed = await alexa.refresh();
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).toMatch(/^q_at_/);
    expect(refreshed.body.access_token).not.toBe(t.access_token);
  });

  it('when the upstream gives no expires_in, then Alexa gets the bridge\'s default, never an answer without expires_in', async () => {
    upstream.expiresIn = undefined;
    const alexa = await linked();
    expect(alexa.tokens!.expires_in).toBeGreaterThan(890);
    expect(alexa.tokens!.expires_in).toBeLessThanOrEqual(900);
  });

  it('when the upstream is down or unreachable during a refresh, then Alexa gets a 5xx, the link stays, and the next refresh succeeds', async () => {
    const alexa = await linked();
    const handle = alexa.tokens!.refresh_token!;
    const window = ctx.services.bridges.timings.reuseWindowSeconds;
    ctx.services.bridges.timings.reuseWindowSeconds = 0;
    try {
      upstream.outage = 'down';
      const down = await alexa.refresh(handle);
      expect(down.status).toBe(503);
      expect(down.body.error).toBe('temporarily_unavailable');
      expect(down.headers.get('retry-after')).toBeTruthy();
      upstream.outage = 'network';
      const cut = await alexa.refresh(handle);
      expect(cut.status).toBe(503);
      upstream.outage = false;
      const back = await alexa.refresh(handle);
      expect(back.status).toBe(200);
      expect(back.body.refresh_token).toBe(handle);
    } finally {
      ctx.services.bridges.timings.reuseWindowSeconds = window;
    }
    expect(upstream.stats.reused).toBe(0);
  });

  it('when the upstream answers after Alexa\'s budget, then Alexa gets a 503 at once and its retry gets the token the late answer brought', async () => {
    const alexa = await linked();
    const handle = alexa.tokens!.refresh_token!;
    const timings = ctx.services.bridges.timings;
    const budget = timings.refreshAnswerMs;
    timings.refreshAnswerMs = 300;
    upstream.hangMs = 900;
    const before = upstream.stats.refreshes;
    try {
      const started = Date.now();
      const slow = await alexa.refresh(handle);
      expect(slow.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(850);
      await new Promise((r) => setTimeout(r, 1200)); // the upstream's answer arrives and is stored
      upstream.hangMs = 0;
      const retry = await alexa.refresh(handle);
      expect(retry.status).toBe(200);
      expect(upstream.stats.refreshes).toBe(before + 1); // the retry made no second upstream call
      // On the link's timeline: the 503 with why, then the retry's answer.
      const { links } = await ctx.services.timeline.show(email, bridge.clientId);
      const newest = links[0].events.slice(0, 2).map((e) => `${e.type}: ${e.reason}`);
      expect(newest).toEqual(['refreshed: answer already made (retry or concurrent refresh within the reuse window)', 'refresh_failed: answer deadline passed']);
    } finally {
      timings.refreshAnswerMs = budget;
    }
    expect(upstream.stats.reused).toBe(0);
  });

  it('when the upstream answers without the configured access token field, then the link stays (its rotated refresh token kept), the log names the field, and no token is logged', async () => {
    const alexa = await linked();
    const handle = alexa.tokens!.refresh_token!;
    const window = ctx.services.bridges.timings.reuseWindowSeconds;
    ctx.services.bridges.timings.reuseWindowSeconds = 0;
    const lines: unknown[] = [];
    let spy: jest.SpyInstance | undefined;
    try {
      expect((await cliWithStdin(['bridges:update', '--name', bridge.name, '--field', 'access_token=data.token'])).code).toBe(0);
      // After the in-process CLI run: it sets the log level, which replaces the logger's methods.
      spy = jest.spyOn(logger, 'error').mockImplementation(((obj: unknown, msg?: string) => {
        lines.push({ obj, msg });
      }) as never);
      const res = await alexa.refresh(handle);
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(res.body.error).toBe('server_error');
      const logged = JSON.stringify(lines);
      expect(logged).toContain('data.token');
      expect(logged).toContain('data.accessToken'); // what was there instead: names, not values
      expect(logged).not.toMatch(/q_at_|q_rt_/);
      spy.mockRestore();
      expect((await cliWithStdin(['bridges:update', '--name', bridge.name, '--field', 'access_token=data.accessToken'])).code).toBe(0);
      expect((await alexa.refresh(handle)).status).toBe(200); // still linked
    } finally {
      spy?.mockRestore();
      ctx.services.bridges.timings.reuseWindowSeconds = window;
    }
  });

  it('when the upstream answers invalid_grant, then Alexa gets invalid_grant, the link ends, and the connected-apps page says so', async () => {
    const alexa = await linked();
    const handle = alexa.tokens!.refresh_token!;
    const window = ctx.services.bridges.timings.reuseWindowSeconds;
    ctx.services.bridges.timings.reuseWindowSeconds = 0;
    try {
      upstream.revokeAll();
      const res = await alexa.refresh(handle);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
      const calls = upstream.stats.rejected.length;
      expect((await alexa.refresh(handle)).body.error).toBe('invalid_grant');
      expect(upstream.stats.rejected.length).toBe(calls); // an ended link never calls the upstream again
    } finally {
      ctx.services.bridges.timings.reuseWindowSeconds = window;
    }
    const page = await (await alexa.jar.fetch(`${server.url}/account/connections`)).text();
    expect(page).toContain('Ended links');
    expect(page).toContain(new URL(upstream.url).host);
    expect(page).toContain('no longer accepts this link');
  });

  it('when the skill forwards SkillAccountLinked with the upstream token and later SkillDisabled, then the Alexa user is recorded, the link ends and the upstream is told', async () => {
    const alexa = await linked();
    const user = { userId: alexaUserId() };
    const post = (event: unknown) =>
      fetch(`${server.url}/alexa/skill-events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${bridge.clientId}:${bridge.clientSecret}`).toString('base64')}` },
        body: JSON.stringify(event),
      });
    const linkedEvent = await post(accountLinkedEvent(user, alexa.tokens!.access_token));
    expect(linkedEvent.status).toBe(200);
    expect(await linkedEvent.json()).toEqual({ status: 'recorded' });
    const revokedBefore = upstream.stats.revoked;
    const disabled = await post(skillDisabledEvent(user));
    expect(disabled.status).toBe(200);
    expect((await disabled.json()).grants_revoked).toBe(1);
    expect(upstream.stats.revoked).toBe(revokedBefore + 1);
    expect((await alexa.refresh()).body.error).toBe('invalid_grant');
  });

  it('when the callback comes back without state (this upstream never echoes it), then the cookie finds the request, and without the cookie nothing is issued', async () => {
    const alexa = new BridgeAlexa(bridge, { scope: 'read control' });
    await alexa.link(email); // works, through the cookie
    // A second attempt whose upstream redirect is replayed in a browser without our cookie.
    const other = new BridgeAlexa(bridge, { scope: 'read control' });
    await other.link(email);
    const res = await other.jar.fetch(`${server.url}/bridge/${bridge.name}/callback?code=q_code_stolen`);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('an implicit bridge', () => {
  it('when Alexa uses the implicit grant, then the upstream access token comes back in the fragment with Bearer, expires_in and the exact state, and the token endpoint refuses to exchange', async () => {
    const { upstream, bridge } = await quirkyBridge(['--implicit']);
    try {
      const email = (await createUser(ctx)).email;
      const alexa = new BridgeAlexa(bridge, { implicit: true, scope: 'read control' });
      const back = await alexa.authorize(email);
      expect(back.search).toBe('');
      const fragment = new URLSearchParams(back.hash.slice(1));
      expect(fragment.get('access_token')).toMatch(/^q_at_/);
      expect(fragment.get('token_type')).toBe('Bearer');
      expect(Number(fragment.get('expires_in'))).toBe(7200);
      expect(fragment.get('state')).toBe(alexa.state);
      expect(fragment.get('refresh_token')).toBeNull();
      const code = new BridgeAlexa(bridge, { scope: 'read' });
      const refused = await code.jar.fetch(code.authorizationUrl({ response_type: 'code' }));
      expect(new URL(refused.headers.get('location')!).hash).toContain('error=unauthorized_client');
      const exchange = await alexa.token({ grant_type: 'authorization_code', code: 'lb_bac_x', redirect_uri: alexa.redirectUri });
      expect(exchange.status).toBe(400);
      expect(exchange.body.error).toBe('unauthorized_client');
      const page = await (await alexa.jar.fetch(`${server.url}/account/connections`)).text();
      expect(page).toContain(`${bridge.name} (bridge)`);
    } finally {
      await upstream.close();
    }
  });
});
