import { createHash } from 'node:crypto';
import { BridgeAlexa, BridgeCredentials, cliWithStdin, servedTestContext, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createUser, TEST_PASSWORD, TestContext } from '../support/context';
import { ImplicitUpstream, startImplicitUpstream } from '../support/upstreams/implicit-upstream';

/**
 * A bridge to an upstream that offers only the implicit grant (--upstream-implicit): its token
 * comes back in our callback's fragment, which a page of ours reads and posts back (CSRF token,
 * our own state checked). Alexa may use the code grant (recommended) or the implicit grant; there
 * is no refresh either way.
 */
let ctx: TestContext;
let server: { url: string; close(): Promise<void> };
let served: { close(): Promise<void> };
let upstream: ImplicitUpstream;
beforeAll(async () => {
  ({ ctx, server, ...served } = await servedTestContext());
  upstream = await startImplicitUpstream();
});
afterAll(async () => {
  await upstream.close();
  await served.close();
});

const form = (data: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(data).toString() });

async function implicitBridge(extra: string[] = []): Promise<BridgeCredentials> {
  const name = uniqueBridgeName('imp');
  upstream.setCallback(`${server.url}/bridge/${name}/callback`);
  const vendorId = uniqueVendor();
  const created = await cliWithStdin([
    'bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', server.url,
    '--authorize-url', `${upstream.url}/authorize`, '--revocation-url', `${upstream.url}/revoke`, '--client-id', upstream.clientId,
    '--upstream-implicit', '--scope', 'read=lights.read', '--allow-http', '--json', ...extra,
  ]);
  if (created.code !== 0) throw new Error(created.stderr);
  const out = created.json();
  return { name, baseUrl: server.url, clientId: out.client_id, clientSecret: out.client_secret, vendorId };
}

/** The browser from Alexa's authorization URI through sign-in and the upstream, up to our callback (its fragment kept, as a browser keeps it). */
async function upToTheCallback(alexa: BridgeAlexa, email: string): Promise<URL> {
  let url = alexa.authorizationUrl();
  for (let hop = 0; hop < 10; hop++) {
    const res = await alexa.jar.fetch(url);
    if (res.status === 200 && new URL(url).pathname === '/login') {
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())![1];
      const login = await alexa.jar.fetch(`${server.url}/login`, form({ _csrf: csrf, email, password: TEST_PASSWORD, return_to: new URL(url).searchParams.get('return_to')! }));
      url = new URL(login.headers.get('location')!, url).href;
      continue;
    }
    await res.arrayBuffer();
    url = new URL(res.headers.get('location')!, url).href;
    if (new URL(url).pathname.endsWith('/callback')) return new URL(url);
  }
  throw new Error('never reached the callback');
}

describe('a bridge to an implicit-only upstream', () => {
  it('when Alexa links with the code grant, then the upstream is asked for response_type=token, our page posts the fragment back, and Alexa redeems our code for the upstream token (no refresh token)', async () => {
    const bridge = await implicitBridge();
    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    const tokens = await alexa.link((await createUser(ctx)).email);
    expect(upstream.lastRequest!.get('response_type')).toBe('token');
    expect(upstream.lastRequest!.get('code_challenge')).toBeNull();
    expect(upstream.lastRequest!.get('scope')).toBe('lights.read');
    expect(tokens.access_token).toBe(upstream.issued.at(-1));
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.expires_in).toBeGreaterThan(1790);
    expect(tokens.expires_in).toBeLessThanOrEqual(1800);
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.scope).toBe('read');
    const rows = JSON.stringify(await ctx.knex('bridge_links').orderBy('id', 'desc').limit(1));
    expect(rows).not.toContain(tokens.access_token); // sealed at rest
  });

  it('when the callback page is served, then only its own script may run (CSP by hash), it is not cached, and it carries a CSRF token', async () => {
    const bridge = await implicitBridge();
    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    const at = await upToTheCallback(alexa, (await createUser(ctx)).email);
    expect(at.hash).toContain('access_token=imp_at_');
    const page = await alexa.jar.fetch(at.href);
    expect(page.status).toBe(200);
    const html = await page.text();
    const script = /<script>([^<]*)<\/script>/.exec(html)![1];
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain(`script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    expect(csp).toContain("object-src 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(html).toMatch(/name="_csrf" value="[^"]+"/);
    expect(html).not.toContain('imp_at_'); // the token never passes through the server's page
    // Every other page keeps scripts off.
    expect((await alexa.jar.fetch(`${server.url}/account`)).headers.get('content-security-policy')).toContain("script-src 'none'");
  });

  it("when Alexa uses the implicit grant too, then the upstream token reaches Alexa's fragment with Alexa's exact state", async () => {
    const bridge = await implicitBridge(['--implicit']);
    const alexa = new BridgeAlexa(bridge, { implicit: true, scope: 'read' });
    const back = await alexa.authorize((await createUser(ctx)).email);
    const fragment = new URLSearchParams(back.hash.slice(1));
    expect(fragment.get('access_token')).toBe(upstream.issued.at(-1));
    expect(fragment.get('token_type')).toBe('Bearer');
    expect(fragment.get('state')).toBe(alexa.state);
    expect(back.search).toBe('');
  });

  it('when the upstream denies, then Alexa gets access_denied with its state; a forged state, a missing CSRF token or a fragment posted to a code bridge are refused and issue nothing', async () => {
    const bridge = await implicitBridge();
    const email = (await createUser(ctx)).email;
    upstream.deny = true;
    try {
      const alexa = new BridgeAlexa(bridge, { scope: 'read' });
      const back = await alexa.authorize(email);
      expect(back.searchParams.get('error')).toBe('access_denied');
      expect(back.searchParams.get('state')).toBe(alexa.state);
    } finally {
      upstream.deny = false;
    }

    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    const at = await upToTheCallback(alexa, email);
    const html = await (await alexa.jar.fetch(at.href)).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
    const callback = `${server.url}/bridge/${bridge.name}/callback`;
    const forged = new URLSearchParams(at.hash.slice(1));
    forged.set('state', 'lb_btx_someone-elses-attempt');
    const refused = await alexa.jar.fetch(callback, form({ _csrf: csrf, fragment: forged.toString() }));
    expect(refused.status).toBe(400);
    expect(refused.headers.get('location')).toBeNull();
    expect((await alexa.jar.fetch(callback, form({ fragment: at.hash.slice(1) }))).status).toBe(403);
    const twice = new URLSearchParams(at.hash.slice(1));
    twice.append('access_token', 'imp_at_other');
    expect((await alexa.jar.fetch(callback, form({ _csrf: csrf, fragment: twice.toString() }))).status).toBe(400);
    // The real answer still completes (the refusals consumed nothing).
    const done = await alexa.jar.fetch(callback, form({ _csrf: csrf, fragment: at.hash.slice(1) }));
    expect(done.status).toBe(303);
    expect(new URL(done.headers.get('location')!).searchParams.get('code')).toMatch(/^lb_bac_/);

    // A bridge whose upstream sends codes takes no posted fragment.
    const code = await ctx.services.bridges.create({ name: uniqueBridgeName('code'), vendorId: uniqueVendor(), baseUrl: server.url, authorizeUrl: `${upstream.url}/authorize`, tokenUrl: `${upstream.url}/token`, upstreamClientId: 'x', allowHttp: true });
    const posted = await alexa.jar.fetch(`${server.url}/bridge/${code.bridge.name}/callback`, form({ _csrf: csrf, fragment: at.hash.slice(1) }));
    expect(posted.status).toBe(404);
    expect((await cliWithStdin(['bridges:show', '--name', bridge.name, '--json'])).json().bridge.upstream_implicit).toBe(true);
  });

  it('when the user disconnects, then the upstream revocation endpoint gets the access token (there is no refresh token)', async () => {
    const bridge = await implicitBridge();
    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    const tokens = await alexa.link((await createUser(ctx)).email);
    const page = await (await alexa.jar.fetch(`${server.url}/account/connections`)).text();
    const action = /action="(\/account\/connections\/\d+\/revoke)"/.exec(page)![1];
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1];
    expect((await alexa.jar.fetch(`${server.url}${action}`, form({ _csrf: csrf }))).status).toBe(303);
    expect(upstream.revocations.at(-1)).toBe(tokens.access_token);
  });

  it('when the configuration is inconsistent, then bridges:create says why', async () => {
    const base = ['bridges:create', '--vendor-id', uniqueVendor(), '--base-url', server.url, '--authorize-url', `${upstream.url}/authorize`, '--client-id', 'x', '--allow-http'];
    const pkce = await cliWithStdin([...base, '--name', uniqueBridgeName('imp'), '--upstream-implicit', '--pkce']);
    expect(pkce.code).toBe(1);
    expect(pkce.stderr).toMatch(/PKCE does not apply/);
    const noTokenUrl = await cliWithStdin([...base, '--name', uniqueBridgeName('code')]);
    expect(noTokenUrl.code).toBe(2);
    expect(noTokenUrl.stderr).toMatch(/--token-url/);
  });
});
