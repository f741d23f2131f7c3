import request from 'supertest';
import { BridgeAlexa, listen, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createTestContext, createUser, csrfFrom, signInAs, TestContext, WebAgent, webAgent } from '../support/context';
import { QuirkyUpstream, startQuirkyUpstream } from '../support/upstreams/quirky-upstream';

/** /admin/bridges: what an administrator sees of the bridges (never a secret), and creating, changing and deleting them there. */
let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

async function aBridge() {
  const name = uniqueBridgeName('page');
  const created = await ctx.services.bridges.create({
    name,
    vendorId: uniqueVendor(),
    baseUrl: 'https://auth.example.com',
    authorizeUrl: 'https://idp.example.net/authorize',
    tokenUrl: 'https://idp.example.net/token',
    upstreamClientId: 'lb',
    upstreamClientSecret: 'upstream-secret-never-shown',
    scopes: [{ alexa: 'read', upstream: ['idp.read'] }],
  });
  return { name, ...created };
}

describe('the admin bridge pages', () => {
  it('when an administrator opens them, then each bridge shows its console values and callback URL, and no secret', async () => {
    const { name, client, clientSecret } = await aBridge();
    const admin = await createUser(ctx, { isAdmin: true });
    const agent = webAgent(ctx.app);
    await signInAs(agent, admin.email);
    const list = await agent.get('/admin/bridges');
    expect(list.status).toBe(200);
    expect(list.text).toContain(`https://auth.example.com/bridge/${name}/authorize`);
    const show = await agent.get(`/admin/bridges/${name}`);
    expect(show.status).toBe(200);
    expect(show.text).toContain(`https://auth.example.com/bridge/${name}/callback`);
    expect(show.text).toContain(client.clientId);
    expect(show.text).not.toContain(clientSecret);
    expect(show.text).not.toContain('upstream-secret-never-shown');
    expect(show.headers['cache-control']).toBe('no-store');
    expect((await agent.get('/admin/bridges/no-such-bridge')).status).toBe(404);
    expect((await agent.get('/admin/bridges/..%2F..%2Fetc')).status).toBe(404);
  });

  it('when someone who is not an administrator opens them, then it is 403', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    expect((await agent.get('/admin/bridges')).status).toBe(403);
  });

  it('when a hostile request reaches the bridge endpoints, then it gets a clear 4xx, never a 500', async () => {
    const { name } = await aBridge();
    const agent = webAgent(ctx.app);
    const paths = [
      `/bridge/${name}/authorize`,
      `/bridge/${name}/authorize?client_id[]=x`,
      `/bridge/${name}/authorize?client_id=${'x'.repeat(5000)}`,
      `/bridge/${name}/callback`,
      `/bridge/${'a'.repeat(60)}/authorize`,
      '/bridge/%00/authorize',
    ];
    for (const p of paths) {
      const res = await agent.get(p);
      expect([303, 400, 404]).toContain(res.status);
    }
    const token = (body: string, type = 'application/x-www-form-urlencoded') => agent.post(`/bridge/${name}/token`).set('content-type', type).send(body);
    for (const [body, type] of [
      ['grant_type=refresh_token&grant_type=refresh_token', undefined],
      ['%%%', undefined],
      ['a=\u0000', undefined],
      ['x'.repeat(20000), undefined],
      ['{"grant_type":"refresh_token"}', 'application/json'],
      ['', 'text/plain'],
    ] as Array<[string, string | undefined]>) {
      const res = await token(body, type);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body.error).toEqual(expect.any(String));
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });
});

describe('configuring bridges on the admin pages', () => {
  let server: { url: string; close(): Promise<void> };
  let upstream: QuirkyUpstream;
  let admin: WebAgent;
  beforeAll(async () => {
    server = await listen(ctx.app);
    upstream = await startQuirkyUpstream();
    admin = request.agent(server.url);
    await signInAs(admin, (await createUser(ctx, { isAdmin: true })).email);
  });
  afterAll(async () => {
    await upstream.close();
    await server.close();
  });

  /** The quirky upstream's whole configuration, as an administrator types it into the form. */
  const quirkyForm = (name: string, vendorId: string): Record<string, string> => ({
    name,
    vendorId,
    baseUrl: server.url,
    authorizeUrl: `${upstream.url}/oauth2/auth`,
    tokenUrl: `${upstream.url}/api/token`,
    revocationUrl: `${upstream.url}/api/revoke`,
    upstreamClientId: upstream.clientId,
    upstreamClientSecret: upstream.clientSecret,
    tokenAuth: 'body',
    tokenBody: 'json',
    field_access_token: 'data.accessToken',
    field_refresh_token: 'data.refreshToken',
    field_expires_in: 'data.expiresIn',
    field_token_type: 'data.tokenType',
    expiresInDefault: '900',
    scopes: 'read=profile.read\r\ncontrol=devices.control',
    scopeSeparator: ',',
    authorizeParams: 'audience=https://api.quirky.test',
    tokenParams: 'tenant=acme',
    allowHttp: 'on',
  });

  const csrf = async (path: string) => csrfFrom((await admin.get(path)).text);
  const post = async (path: string, formPath: string, data: Record<string, string>) => admin.post(path).type('form').send({ _csrf: await csrf(formPath), ...data });

  it('when an administrator creates a bridge on the form, then the page shows the Alexa console values and our secret once, and Alexa can link through it', async () => {
    const name = uniqueBridgeName('form');
    const vendorId = uniqueVendor();
    upstream.setCallback(`${server.url}/bridge/${name}/callback`);
    const res = await post('/admin/bridges', '/admin/bridges/new', quirkyForm(name, vendorId));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const clientId = /id="client-id">([^<]+)</.exec(res.text)![1];
    const clientSecret = /id="client-secret">([^<]+)</.exec(res.text)![1];
    expect(clientSecret).toMatch(/^lb_cs_/);
    expect(res.text).toContain(`${server.url}/bridge/${name}/authorize`);
    expect(res.text).toContain(`${server.url}/bridge/${name}/token`);
    expect(res.text).toContain(`${server.url}/bridge/${name}/callback`);
    expect(res.text).toContain(`https://layla.amazon.com/api/skill/link/${vendorId}`);
    expect(res.text).not.toContain(upstream.clientSecret);
    // The same as bridges:create would have stored.
    const bridge = await ctx.services.bridges.get(name);
    expect(bridge).toMatchObject({ tokenAuth: 'body', tokenBody: 'json', expiresInDefault: 900, scopeSeparator: ',', authorizeParams: { audience: 'https://api.quirky.test' }, tokenParams: { tenant: 'acme' }, stateEcho: false, pkce: false });
    expect(bridge.scopes).toEqual([{ alexa: 'read', upstream: ['profile.read'] }, { alexa: 'control', upstream: ['devices.control'] }]);
    expect(JSON.stringify(await ctx.knex('bridges').where({ name }).first())).not.toContain(upstream.clientSecret);
    // Shown once: the bridge's page afterwards has no secret.
    const show = await admin.get(`/admin/bridges/${name}`);
    expect(show.text).toContain(clientId);
    expect(show.text).not.toContain(clientSecret);

    const alexa = new BridgeAlexa({ name, baseUrl: server.url, clientId, clientSecret, vendorId }, { scope: 'read control' });
    await alexa.link((await createUser(ctx)).email);
    expect(alexa.tokens!.access_token).toMatch(/^q_at_/);
    expect((await alexa.refresh()).status).toBe(200);
  });

  it('when the form has a mistake, then it comes back with the error (400), the values kept and the secret not echoed, and nothing is created', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ vendorId: 'M1/../x' }, /vendor ID/],
      [{ expiresInDefault: '1h' }, /Default lifetime must be a number of seconds/],
      [{ expiresInDefault: '5' }, /at least 60/],
      [{ tokenAuth: 'bearer' }, /Client authentication must be basic or body/],
      [{ field_access_token: 'data[0]' }, /field path/],
      [{ authorizeParams: 'redirect_uri=https://evil.example' }, /set by the bridge itself/],
      [{ tokenParams: 'novalue' }, /Extra token parameter must be name=value/],
      [{ scopes: 'read="x"' }, /scope/],
      [{ allowHttp: '' }, /https/],
      [{ name: 'Bad Name/..' }, /lower-case/],
      [{ name: 'new' }, /reserved/],
    ];
    for (const [change, message] of cases) {
      const data = { ...quirkyForm(uniqueBridgeName('bad'), uniqueVendor()), ...change };
      if (change.allowHttp === '') delete data.allowHttp;
      const res = await post('/admin/bridges', '/admin/bridges/new', data);
      expect(res.status).toBe(400);
      expect(res.text).toMatch(message);
      expect(res.text).toContain('role="alert"');
      expect(res.text).toContain(`value="${upstream.clientId}"`); // kept
      expect(res.text).not.toContain(upstream.clientSecret);
      expect(await ctx.knex('bridges').where({ name: data.name }).first()).toBeUndefined();
    }
    const name = uniqueBridgeName('dup');
    expect((await post('/admin/bridges', '/admin/bridges/new', quirkyForm(name, uniqueVendor()))).status).toBe(200);
    const again = await post('/admin/bridges', '/admin/bridges/new', quirkyForm(name, uniqueVendor()));
    expect(again.status).toBe(400);
    expect(again.text).toContain('already exists');
    // A hostile body (repeated fields become arrays, missing ones are empty): a 400, never a 500.
    const hostile = await admin.post('/admin/bridges').type('form').send(`_csrf=${encodeURIComponent(await csrf('/admin/bridges/new'))}&name=a&name=b&vendorId=x&scopes=${'x'.repeat(9000)}`);
    expect(hostile.status).toBe(400);
  });

  it('when a form is posted without its CSRF token or by a non-administrator, then it is refused and nothing changes', async () => {
    const name = uniqueBridgeName('csrf');
    expect((await admin.post('/admin/bridges').type('form').send(quirkyForm(name, uniqueVendor()))).status).toBe(403);
    expect(await ctx.knex('bridges').where({ name }).first()).toBeUndefined();
    const { name: existing } = await aBridge();
    expect((await admin.post(`/admin/bridges/${existing}/delete`).type('form').send({})).status).toBe(403);
    expect((await admin.post(`/admin/bridges/${existing}`).type('form').send({ vendorId: 'MX' })).status).toBe(403);
    const user = request.agent(server.url);
    await signInAs(user, (await createUser(ctx)).email);
    const page = await user.get('/account');
    const res = await user.post('/admin/bridges').type('form').send({ _csrf: csrfFrom(page.text), ...quirkyForm(name, uniqueVendor()) });
    expect(res.status).toBe(403);
    expect(await ctx.knex('bridges').where({ name }).first()).toBeUndefined();
  });

  it('when an administrator edits a bridge, then every field changes, the upstream secret only when a new one is typed, and it is never shown back', async () => {
    const { name } = await aBridge();
    const sealed = async () => (await ctx.knex('bridges').where({ name }).first('upstream_client_secret_sealed')).upstream_client_secret_sealed as string;
    const before = await sealed();
    const edit = await admin.get(`/admin/bridges/${name}/edit`);
    expect(edit.status).toBe(200);
    expect(edit.text).toContain('value="https://idp.example.net/authorize"');
    expect(edit.text).toContain('read=idp.read');
    expect(edit.text).not.toContain('upstream-secret-never-shown');
    expect(edit.text).toContain('stored encrypted');
    const same = {
      vendorId: uniqueVendor(),
      baseUrl: 'https://auth2.example.com',
      authorizeUrl: 'https://idp2.example.net/authorize?tenant=1',
      tokenUrl: 'https://idp2.example.net/token',
      revocationUrl: 'https://idp2.example.net/revoke',
      upstreamClientId: 'lb2',
      tokenAuth: 'body',
      tokenBody: 'json',
    } as const;
    const changes = {
      ...same,
      clientName: 'Lights at home',
      upstreamClientSecret: '',
      field_access_token: 'data.at',
      field_refresh_token: '',
      field_expires_in: 'data.ttl',
      field_token_type: 'token_type',
      expiresInDefault: '1800',
      scopes: 'read=a b\ncontrol=c',
      scopeSeparator: ',',
      authorizeParams: 'audience=x',
      tokenParams: 'tenant=y',
      pkce: 'on',
      implicit: 'on',
    };
    const saved = await post(`/admin/bridges/${name}`, `/admin/bridges/${name}/edit`, changes);
    expect(saved.status).toBe(303);
    expect(saved.headers.location).toBe(`/admin/bridges/${name}`);
    const b = await ctx.services.bridges.get(name);
    expect(b).toMatchObject({
      ...same,
      fields: { access_token: 'data.at', refresh_token: 'refresh_token', expires_in: 'data.ttl', token_type: 'token_type' },
      expiresInDefault: 1800,
      scopes: [{ alexa: 'read', upstream: ['a', 'b'] }, { alexa: 'control', upstream: ['c'] }],
      scopeSeparator: ',',
      authorizeParams: { audience: 'x' },
      tokenParams: { tenant: 'y' },
      pkce: true,
      stateEcho: false,
      implicit: true,
    });
    expect(await sealed()).toBe(before); // no secret typed: the stored one stays
    const client = await ctx.services.bridges.clientOf(b);
    expect(client.name).toBe('Lights at home');
    expect(client.redirectUris).toContain(`https://pitangui.amazon.com/api/skill/link/${same.vendorId}`);

    // A new secret replaces the old; an emptied revocation URL removes it; a mistake is a 400 on the form.
    expect((await post(`/admin/bridges/${name}`, `/admin/bridges/${name}/edit`, { ...changes, upstreamClientSecret: 'the new upstream secret', revocationUrl: '' })).status).toBe(303);
    const replaced = await sealed();
    expect(replaced).not.toBe(before);
    expect(ctx.services.secrets!.open(replaced, `bridge:${b.id}:client_secret`)).toBe('the new upstream secret');
    expect((await ctx.services.bridges.get(name)).revocationUrl).toBeNull();
    const bad = await post(`/admin/bridges/${name}`, `/admin/bridges/${name}/edit`, { ...changes, upstreamClientSecret: 'typed but refused', tokenUrl: 'http://idp2.example.net/token' });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/https/);
    expect(bad.text).not.toContain('typed but refused');
    expect(await sealed()).toBe(replaced);
    expect((await admin.get(`/admin/bridges/${name}/edit`)).text).not.toContain('the new upstream secret');
    expect((await admin.get('/admin/bridges/no-such-bridge/edit')).status).toBe(404);
  });

  it('when an administrator deletes a bridge, then it, its client and its links go', async () => {
    const { name, client } = await aBridge();
    const res = await post(`/admin/bridges/${name}/delete`, `/admin/bridges/${name}`, {});
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin/bridges?deleted=1');
    expect((await admin.get(res.headers.location)).text).toContain('The bridge was deleted');
    expect(await ctx.knex('bridges').where({ name }).first()).toBeUndefined();
    expect(await ctx.services.clients.findById(client.id)).toBeUndefined();
    expect((await post(`/admin/bridges/${name}/delete`, '/admin/bridges', {})).status).toBe(404);
  });
});
