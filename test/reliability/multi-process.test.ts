import { createHash, randomBytes } from 'node:crypto';
import { alexaRedirectUris } from '../../src/oauth/clients/redirect-uris';
import { createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, TestContext, TEST_PASSWORD } from '../support/context';
import { CookieJar, form, onPostgres, postgresServerEnv, ServerProcess, startServerProcess } from '../support/server-process';

/**
 * Two separate server processes on one PostgreSQL, as behind a load balancer. Runs on the
 * PostgreSQL backend (`TEST_DATABASE_URL=... npm test`, which .ci/run does).
 */
const describePg = onPostgres ? describe : describe.skip;

describePg('two server processes on one database', () => {
  let ctx: TestContext;
  let a: ServerProcess;
  let b: ServerProcess;
  let urlA: string;
  let urlB: string;

  beforeAll(async () => {
    ctx = createTestContext();
    a = startServerProcess(postgresServerEnv({ LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3' }));
    b = startServerProcess(postgresServerEnv({ LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3' }));
    urlA = a.url(await a.ready);
    urlB = b.url(await b.ready);
  }, 60000);
  afterAll(async () => {
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    await ctx.close();
  });

  const csrf = async (res: Response) => /name="_csrf" value="([^"]+)"/.exec(await res.text())![1];

  async function loginOn(url: string, jar: CookieJar, email: string, password = TEST_PASSWORD) {
    const page = await jar.fetch(`${url}/login`);
    return jar.fetch(`${url}/login`, form({ _csrf: await csrf(page), email, password }));
  }

  /** Log in on A, consent on B; returns the code. */
  async function linkAcross(client: { clientId: string; vendorId: string }, email: string) {
    const jar = new CookieJar();
    expect((await loginOn(urlA, jar, email)).status).toBe(303);
    const redirectUri = alexaRedirectUris(client.vendorId)[1];
    const state = randomBytes(300).toString('base64');
    const params = new URLSearchParams({ client_id: client.clientId, response_type: 'code', redirect_uri: redirectUri, state, scope: 'read write' });
    const consent = await jar.fetch(`${urlB}/oauth/authorize?${params}`);
    expect(consent.status).toBe(200);
    const html = await consent.text();
    const tx = /name="transaction_id" value="([^"]+)"/.exec(html)![1];
    const token = /name="_csrf" value="([^"]+)"/.exec(html)![1];
    const decided = await jar.fetch(`${urlB}/oauth/authorize`, form({ _csrf: token, transaction_id: tx, decision: 'allow' }));
    expect(decided.status).toBe(302);
    const location = new URL(decided.headers.get('location')!);
    expect(location.searchParams.get('state')).toBe(state);
    return { code: location.searchParams.get('code')!, redirectUri };
  }

  const basic = (c: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`;
  const tokenCall = (url: string, c: { clientId: string; clientSecret: string }, data: Record<string, string>) =>
    fetch(`${url}/oauth/token`, { ...form(data), headers: { ...form(data).headers, authorization: basic(c) } });
  const me = (url: string, token: string) => fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  /**
   * A change made by a process that does not listen (this test, like the CLI) reaches the servers
   * through their listeners within milliseconds; servers that revoke wait for that themselves.
   */
  const soon = async (check: () => Promise<number>, expected: number) => {
    let status = await check();
    for (let i = 0; i < 50 && status !== expected; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = await check();
    }
    return status;
  };

  it('when a user logs in on one process and consents on the other, then the code exchanged on one refreshes on the other', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const { code, redirectUri } = await linkAcross(client, user.email);
    const exchanged = await tokenCall(urlA, client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri });
    expect(exchanged.status).toBe(200);
    const tokens = await exchanged.json();
    const refreshed = await tokenCall(urlB, client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    expect((await me(urlA, (await refreshed.json()).access_token)).status).toBe(200);
  });

  it('when a token is revoked on one process, then the other rejects it at once, even though it had it cached', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const { code, redirectUri } = await linkAcross(client, user.email);
    const tokens = await (await tokenCall(urlA, client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri })).json();
    for (let i = 0; i < 3; i++) expect((await me(urlB, tokens.access_token)).status).toBe(200); // now cached on B
    const revoked = await fetch(`${urlA}/oauth/revoke`, { ...form({ token: tokens.access_token }), headers: { ...form({}).headers, authorization: basic(client) } });
    expect(revoked.status).toBe(200);
    expect((await me(urlB, tokens.access_token)).status).toBe(401);
    expect((await me(urlA, tokens.access_token)).status).toBe(401);
  });

  it('when a token has been validated, then the server answers from its cache (which is why revocation must notify)', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const { code, redirectUri } = await linkAcross(client, user.email);
    const tokens = await (await tokenCall(urlA, client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri })).json();
    expect((await me(urlB, tokens.access_token)).status).toBe(200);
    const hash = createHash('sha256').update(tokens.access_token).digest('hex');
    // Revoked behind the server's back, without the NOTIFY every real revocation sends:
    await ctx.knex('oauth_access_tokens').where({ token_hash: hash }).update({ revoked_at: new Date() });
    expect((await me(urlB, tokens.access_token)).status).toBe(200);
    // The notification (what every revocation path sends) evicts it.
    await ctx.knex.raw("SELECT pg_notify('linkbridge_revocations', ?)", [JSON.stringify({ flush: true })]);
    await new Promise((r) => setTimeout(r, 100));
    expect((await me(urlB, tokens.access_token)).status).toBe(401);
  });

  it('when a user is disabled from another process, then both servers reject the cached token', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const { code, redirectUri } = await linkAcross(client, user.email);
    const tokens = await (await tokenCall(urlB, client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri })).json();
    expect((await me(urlA, tokens.access_token)).status).toBe(200);
    expect((await me(urlB, tokens.access_token)).status).toBe(200);
    await ctx.services.accounts.disableUser(user.id); // a third process: this test itself, like the CLI
    expect(await soon(async () => (await me(urlA, tokens.access_token)).status, 401)).toBe(401);
    expect(await soon(async () => (await me(urlB, tokens.access_token)).status, 401)).toBe(401);
  });

  it("when a client's secret is rotated immediately elsewhere, then the old secret stops working on both", async () => {
    const client = await createAlexaClient(ctx);
    // Warm both processes' client caches (a bad refresh token still authenticates the client first).
    for (const url of [urlA, urlB]) expect((await tokenCall(url, client, { grant_type: 'refresh_token', refresh_token: 'lb_rt_x' })).status).toBe(400);
    const row = (await ctx.services.clients.findByClientId(client.clientId))!;
    await ctx.services.clients.rotateSecret(row.id, { immediately: true });
    for (const url of [urlA, urlB]) {
      expect(await soon(async () => (await tokenCall(url, client, { grant_type: 'refresh_token', refresh_token: 'lb_rt_x' })).status, 401)).toBe(401);
    }
  });

  it('when login attempts are spread over both processes, then throttling counts them all', async () => {
    const user = await createUser(ctx);
    expect((await loginOn(urlA, new CookieJar(), user.email, 'wrong 1')).status).toBe(400);
    expect((await loginOn(urlB, new CookieJar(), user.email, 'wrong 2')).status).toBe(400);
    expect((await loginOn(urlA, new CookieJar(), user.email, 'wrong 3')).status).toBe(400);
    expect((await loginOn(urlB, new CookieJar(), user.email)).status).toBe(429);
  });

  it('when the same refresh token is used on both processes at once under rotation, then all succeed and the grant stays', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx, { rotation: 'rotate' });
    const { code, redirectUri } = await linkAcross(client, user.email);
    const tokens = await (await tokenCall(urlA, client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri })).json();
    const results = await Promise.all([urlA, urlB, urlA, urlB].map((u) => tokenCall(u, client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const hash = createHash('sha256').update(tokens.refresh_token).digest('hex');
    const row = await ctx.knex('oauth_refresh_tokens').where({ token_hash: hash }).first();
    expect(row.rotated_at).not.toBeNull();
    expect(row.revoked_at).toBeNull();
  });
});
