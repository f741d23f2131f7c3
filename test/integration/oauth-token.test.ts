import request from 'supertest';
import { sha256 } from '../../src/lib/crypto';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { bearerProbeApp } from '../support/bearer-probe';
import { createTestContext, createUser, TestContext } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

/** A user who consented: Alexa holds a fresh code, not yet redeemed. */
async function codeInHand(opts: { rotation?: 'off' | 'rotate'; pkce?: boolean; auth?: 'basic' | 'body' } = {}) {
  const user = await createUser(ctx);
  const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx, { rotation: opts.rotation }), { pkce: opts.pkce, auth: opts.auth });
  const location = await alexa.openAndDecide(user);
  return { user, alexa, code: location.searchParams.get('code')! };
}

async function linked(opts: { rotation?: 'off' | 'rotate' } = {}) {
  const { user, alexa, code } = await codeInHand(opts);
  expect((await alexa.exchange(code)).status).toBe(200);
  return { user, alexa, tokens: alexa.tokens! };
}

const api = () => bearerProbeApp(ctx);
const callApi = (token: string) => request(api()).get('/api/probe').set('Authorization', `Bearer ${token}`);

describe('token endpoint: responses and client authentication', () => {
  it('when a code is exchanged, then the answer has every field, an integer expires_in and is not cached', async () => {
    const { alexa, code } = await codeInHand();
    const res = await alexa.exchange(code);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.pragma).toBe('no-cache');
    expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    expect(res.body.token_type).toBe('Bearer');
    expect(res.body.expires_in).toBe(3600);
    expect(res.body.scope).toBe('read write');
  });

  it('when client authentication fails, then unknown client and wrong secret both get 401 invalid_client with WWW-Authenticate: Basic', async () => {
    const { alexa, code } = await codeInHand();
    const wrong = await request(ctx.app).post('/oauth/token').type('form').auth(alexa.client.clientId, 'lb_cs_wrong').send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri });
    const unknown = await request(ctx.app).post('/oauth/token').type('form').auth('lbc_unknown', 'lb_cs_wrong').send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri });
    const body = await request(ctx.app).post('/oauth/token').type('form').send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri, client_id: alexa.client.clientId, client_secret: 'nope' });
    for (const res of [wrong, unknown, body]) {
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
      expect(res.headers['cache-control']).toBe('no-store');
    }
    expect(wrong.body).toEqual(unknown.body);
    // The code was not spent by those attempts.
    expect((await alexa.exchange(code)).status).toBe(200);
  });

  it('when a confidential client sends no secret (even with PKCE), then 401 invalid_client', async () => {
    const { alexa, code } = await codeInHand({ pkce: true });
    const res = await request(ctx.app).post('/oauth/token').type('form').send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri, client_id: alexa.client.clientId, code_verifier: alexa.verifier });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('when the client uses Basic and body credentials at once, then invalid_request', async () => {
    const { alexa, code } = await codeInHand();
    const res = await request(ctx.app)
      .post('/oauth/token')
      .type('form')
      .auth(alexa.client.clientId, alexa.client.clientSecret)
      .send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri, client_id: alexa.client.clientId, client_secret: alexa.client.clientSecret });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('when the secret is sent in the query string, then invalid_request', async () => {
    const { alexa, code } = await codeInHand();
    const res = await request(ctx.app)
      .post(`/oauth/token?client_secret=${alexa.client.clientSecret}`)
      .type('form')
      .send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri, client_id: alexa.client.clientId });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('when Basic credentials are form-encoded (RFC 6749 §2.3.1), then they are decoded before checking', async () => {
    const { alexa, code } = await codeInHand();
    const encode = (s: string) => encodeURIComponent(s).replace(/[-_.~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const basic = Buffer.from(`${encode(alexa.client.clientId)}:${encode(alexa.client.clientSecret)}`).toString('base64');
    const res = await request(ctx.app).post('/oauth/token').type('form').set('Authorization', `Basic ${basic}`).send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri });
    expect(res.status).toBe(200);
  });

  it('when the body is JSON instead of a form, or the method is GET, then the request is refused', async () => {
    const { alexa, code } = await codeInHand();
    const json = await request(ctx.app).post('/oauth/token').auth(alexa.client.clientId, alexa.client.clientSecret).send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri });
    expect(json.status).toBe(400);
    expect(json.body.error).toBe('invalid_request');
    const get = await request(ctx.app).get('/oauth/token');
    expect(get.status).toBe(405);
  });

  it.each(['password', 'client_credentials', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code'])('when grant_type=%s is asked, then unsupported_grant_type', async (grant) => {
    const alexa = await createAlexaClient(ctx);
    const res = await request(ctx.app).post('/oauth/token').type('form').auth(alexa.clientId, alexa.clientSecret).send({ grant_type: grant, username: 'a', password: 'b' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unsupported_grant_type');
  });

  it('when parameters are repeated or missing, then invalid_request, never a 500', async () => {
    const alexa = await createAlexaClient(ctx);
    const repeated = await request(ctx.app).post('/oauth/token').type('form').auth(alexa.clientId, alexa.clientSecret).send('grant_type=authorization_code&code=a&code=b');
    expect(repeated.status).toBe(400);
    expect(repeated.body.error).toBe('invalid_request');
    const missing = await request(ctx.app).post('/oauth/token').type('form').auth(alexa.clientId, alexa.clientSecret).send({ grant_type: 'authorization_code' });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_request');
    const noGrant = await request(ctx.app).post('/oauth/token').type('form').auth(alexa.clientId, alexa.clientSecret).send({});
    expect(noGrant.body.error).toBe('invalid_request');
  });
});

describe('authorization codes', () => {
  it('when a code is redeemed twice, then the second gets invalid_grant and the tokens of the first are revoked', async () => {
    const { alexa, code } = await codeInHand();
    const first = await alexa.exchange(code);
    expect(first.status).toBe(200);
    expect((await callApi(first.body.access_token)).status).toBe(200);
    const replay = await alexa.exchange(code);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect((await callApi(first.body.access_token)).status).toBe(401);
    expect((await alexa.refresh(first.body.refresh_token)).body.error).toBe('invalid_grant');
  });

  it('when one code is redeemed in parallel, then exactly one token set is issued', async () => {
    const { alexa, code } = await codeInHand();
    const results = await Promise.all(Array.from({ length: 8 }, () => alexa.tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri })));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.body.error).toBe('invalid_grant');
    const tokens = await ctx.knex('oauth_access_tokens').where({ authorization_code_id: ctx.knex('oauth_authorization_codes').select('id').where({ code_hash: sha256(code) }) });
    expect(tokens).toHaveLength(1);
  });

  it('when another client presents the code, then invalid_grant', async () => {
    const { code } = await codeInHand();
    const other = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const res = await other.tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: other.redirectUri });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('when redirect_uri is missing or differs from the authorization request, then invalid_grant', async () => {
    const a = await codeInHand();
    const missing = await a.alexa.tokenRequest({ grant_type: 'authorization_code', code: a.code });
    expect(missing.body.error).toBe('invalid_grant');
    const b = await codeInHand();
    const other = await b.alexa.tokenRequest({ grant_type: 'authorization_code', code: b.code, redirect_uri: `https://layla.amazon.com/api/skill/link/${b.alexa.client.vendorId}` });
    expect(other.body.error).toBe('invalid_grant');
  });

  it('when the code has expired, then invalid_grant', async () => {
    const { alexa, code } = await codeInHand();
    await ctx.knex('oauth_authorization_codes').where({ code_hash: sha256(code) }).update({ expires_at: new Date(Date.now() - 1000) });
    const res = await alexa.exchange(code);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('when a code lives, then it lives at most the configured 60 seconds', async () => {
    const { code } = await codeInHand();
    const row = await ctx.knex('oauth_authorization_codes').where({ code_hash: sha256(code) }).first();
    const ttl = (row.expires_at.getTime() - row.created_at.getTime()) / 1000;
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(61);
  });

  it('when the PKCE verifier is wrong or missing, then invalid_grant', async () => {
    const a = await codeInHand({ pkce: true });
    const wrong = await a.alexa.tokenRequest({ grant_type: 'authorization_code', code: a.code, redirect_uri: a.alexa.redirectUri, code_verifier: 'x'.repeat(50) });
    expect(wrong.body.error).toBe('invalid_grant');
    const b = await codeInHand({ pkce: true });
    const missing = await b.alexa.tokenRequest({ grant_type: 'authorization_code', code: b.code, redirect_uri: b.alexa.redirectUri });
    expect(missing.body.error).toBe('invalid_grant');
  });

  it('when a verifier is sent for a code that had no challenge, then invalid_grant (downgrade)', async () => {
    const { alexa, code } = await codeInHand();
    const res = await alexa.tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri, code_verifier: 'y'.repeat(50) });
    expect(res.body.error).toBe('invalid_grant');
  });

  it('when the user is disabled between consent and exchange, then the code fails', async () => {
    const { user, alexa, code } = await codeInHand();
    await ctx.services.accounts.disableUser(user.id);
    expect((await alexa.exchange(code)).body.error).toBe('invalid_grant');
  });
});

describe('refresh tokens', () => {
  it('when the policy is off, then the same refresh token keeps working and each refresh gives a new access token', async () => {
    const { alexa, tokens } = await linked();
    const a = await alexa.refresh(tokens.refresh_token);
    const b = await alexa.refresh(tokens.refresh_token);
    expect(a.body.refresh_token).toBe(tokens.refresh_token);
    expect(b.body.access_token).not.toBe(a.body.access_token);
    expect((await callApi(a.body.access_token)).status).toBe(200);
    const row = await ctx.knex('oauth_refresh_tokens').where({ token_hash: sha256(tokens.refresh_token) }).first();
    expect(row.expires_at).toBeNull(); // no expiry until revoked
  });

  it('when two refreshes run at once with the off policy, then both succeed', async () => {
    const { alexa, tokens } = await linked();
    const results = await Promise.all(Array.from({ length: 5 }, () => alexa.refresh(tokens.refresh_token)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });

  it('when rotation is on, then a new refresh token is issued and the previous one works within the grace window', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const a = await alexa.refresh(tokens.refresh_token);
    expect(a.status).toBe(200);
    expect(a.body.refresh_token).not.toBe(tokens.refresh_token);
    const retry = await alexa.refresh(tokens.refresh_token);
    expect(retry.status).toBe(200);
  });

  it('when a rotated refresh token is reused after the grace window, then the grant is revoked', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const a = await alexa.refresh(tokens.refresh_token);
    await ctx.knex('oauth_refresh_tokens').where({ token_hash: sha256(tokens.refresh_token) }).update({ rotated_at: new Date(Date.now() - 3600 * 1000) });
    const reuse = await alexa.refresh(tokens.refresh_token);
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    // Everything under the grant is gone, including the legitimately rotated token.
    expect((await alexa.refresh(a.body.refresh_token)).body.error).toBe('invalid_grant');
    expect((await callApi(a.body.access_token)).status).toBe(401);
  });

  it('when a client moves from rotate to off, then tokens rotated long ago stay dead and the latest keeps working', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const latest = (await alexa.refresh(tokens.refresh_token)).body.refresh_token as string;
    await ctx.knex('oauth_refresh_tokens').where({ token_hash: sha256(tokens.refresh_token) }).update({ rotated_at: new Date(Date.now() - 3600 * 1000) });
    const row = (await ctx.services.clients.findByClientId(alexa.client.clientId))!;
    await ctx.services.clients.update(row.id, { refreshRotation: 'off' });
    expect((await alexa.refresh(tokens.refresh_token)).body.error).toBe('invalid_grant');
    const again = await alexa.refresh(latest);
    expect(again.status).toBe(200);
    expect(again.body.refresh_token).toBe(latest);
  });

  it('when N refreshes of one token run in parallel under rotation, then all succeed and the grant stays valid', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const results = await Promise.all(Array.from({ length: 6 }, () => alexa.refresh(tokens.refresh_token)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    for (const r of results) expect((await callApi(r.body.access_token)).status).toBe(200);
  });

  it('when another client presents the refresh token, then invalid_grant', async () => {
    const { tokens } = await linked();
    const other = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const res = await other.tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(res.body.error).toBe('invalid_grant');
  });

  it('when a refresh asks for less scope, then it narrows; when it asks for more, then invalid_scope', async () => {
    const { alexa, tokens } = await linked();
    const narrow = await alexa.tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, scope: 'read' });
    expect(narrow.status).toBe(200);
    expect(narrow.body.scope).toBe('read');
    const probe = api();
    expect((await request(probe).post('/api/probe').set('Authorization', `Bearer ${narrow.body.access_token}`)).status).toBe(403);
    const wide = await alexa.tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, scope: 'read write admin' });
    expect(wide.status).toBe(400);
    expect(wide.body.error).toBe('invalid_scope');
    // the original refresh token still carries its full scope
    expect((await alexa.refresh(tokens.refresh_token)).body.scope).toBe('read write');
  });

  it('when a refresh token is used as an access token, or the reverse, then both are refused', async () => {
    const { alexa, tokens } = await linked();
    expect((await callApi(tokens.refresh_token)).status).toBe(401);
    const res = await alexa.tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.access_token });
    expect(res.body.error).toBe('invalid_grant');
  });

  it('when the user is disabled, then their refresh tokens and access tokens stop working', async () => {
    const { user, alexa, tokens } = await linked();
    await ctx.services.accounts.disableUser(user.id);
    expect((await alexa.refresh(tokens.refresh_token)).body.error).toBe('invalid_grant');
    expect((await callApi(tokens.access_token)).status).toBe(401);
    const grants = await ctx.knex('oauth_grants').where({ user_id: user.id });
    expect(grants.every((g: { revoked_at: Date | null }) => g.revoked_at !== null)).toBe(true);
  });

  it('when a client has its own access token lifetime, then expires_in follows it', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx, { accessTokenTtl: 900 }));
    const tokens = await alexa.link(user);
    expect(tokens.expires_in).toBe(900);
  });
});

describe('client credentials edge cases', () => {
  it('when Basic credentials carry a NUL or non-printable character, then 401 invalid_client, never a 500', async () => {
    for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
      const res = await request(ctx.app)
        .post(path)
        .type('form')
        .set('Authorization', `Basic ${Buffer.from('lbc_x%00:secret').toString('base64')}`)
        .send({ grant_type: 'refresh_token', refresh_token: 'lb_rt_x', token: 'x' });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    }
  });

  it('when redirect_uri is sent empty, then it counts as omitted (RFC 6749 §3.1)', async () => {
    const { alexa, code } = await codeInHand();
    // The authorization request carried a redirect_uri, so omitting it is invalid_grant, not a match of ''.
    const res = await alexa.tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: '' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('when the bearer challenge names a missing scope, then it is a well-formed quoted string', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx), { scope: 'read' });
    const tokens = await alexa.link(user);
    const res = await request(api()).post('/api/probe').set('Authorization', `Bearer ${tokens.access_token}`);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="linkbridge", error="insufficient_scope", error_description="[^"]*", scope="write"$/);
  });
});

describe("a client's current configuration bounds the tokens it has", () => {
  const writeApi = (token: string) => request(api()).post('/api/probe').set('Authorization', `Bearer ${token}`);

  it('when an admin narrows a client to read, then its live access tokens lose write at once and every refresh mints read only', async () => {
    const { alexa, tokens } = await linked();
    expect((await writeApi(tokens.access_token)).status).toBe(200);
    const row = (await ctx.services.clients.findByClientId(alexa.client.clientId))!;
    await ctx.services.clients.update(row.id, { scopes: ['read'] });

    const denied = await writeApi(tokens.access_token);
    expect(denied.status).toBe(403);
    expect(denied.headers['www-authenticate']).toContain('insufficient_scope');
    expect((await callApi(tokens.access_token)).body.scope).toEqual(['read']);

    const refreshed = await alexa.refresh(tokens.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.scope).toBe('read');
    expect((await writeApi(refreshed.body.access_token)).status).toBe(403);
    const asked = await alexa.refresh(tokens.refresh_token, 'read write');
    expect(asked.status).toBe(400);
    expect(asked.body.error).toBe('invalid_scope');

    const introspected = await request(ctx.app).post('/oauth/introspect').type('form').auth(alexa.client.clientId, alexa.client.clientSecret).send({ token: refreshed.body.access_token });
    expect(introspected.body.scope).toBe('read');

    // Given back, the scope the user consented to is usable again.
    await ctx.services.clients.update(row.id, { scopes: ['read', 'write'] });
    expect((await writeApi(tokens.access_token)).status).toBe(200);
  });

  it('when a code issued before the narrowing is redeemed, then its tokens carry only what the client still has', async () => {
    const { alexa, code } = await codeInHand();
    const row = (await ctx.services.clients.findByClientId(alexa.client.clientId))!;
    await ctx.services.clients.update(row.id, { scopes: ['read'] });
    const res = await alexa.exchange(code);
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('read');
    expect((await writeApi(res.body.access_token)).status).toBe(403);
  });
});

describe('rotation: one grant has one live refresh chain', () => {
  const liveHeads = (grantId: number) =>
    ctx.knex('oauth_refresh_tokens').where({ grant_id: grantId }).whereNull('revoked_at').whereNull('rotated_at').count<{ count: number }[]>('* as count').then((r) => Number(r[0].count));
  const grantOf = async (refreshToken: string) => Number((await ctx.knex('oauth_refresh_tokens').where({ token_hash: sha256(refreshToken) }).first('grant_id')).grant_id);

  it('when RT0 is retried within the grace window after RT0 -> RT1, then the answer is RT1 again with a working access token, and the chain does not fork', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const first = await alexa.refresh(tokens.refresh_token);
    const rt1 = first.body.refresh_token as string;
    const retry = await alexa.refresh(tokens.refresh_token);
    expect(retry.status).toBe(200);
    expect(retry.body.refresh_token).toBe(rt1);
    expect(retry.body.access_token).not.toBe(first.body.access_token);
    expect((await callApi(retry.body.access_token)).status).toBe(200);
    expect(await liveHeads(await grantOf(rt1))).toBe(1);

    // RT1 goes on; a reuse of RT0 once its window is over is detected and ends the grant.
    const second = await alexa.refresh(rt1);
    expect(second.status).toBe(200);
    await ctx.knex('oauth_refresh_tokens').where({ token_hash: sha256(tokens.refresh_token) }).update({ rotated_at: new Date(Date.now() - 3600 * 1000) });
    expect((await alexa.refresh(tokens.refresh_token)).body.error).toBe('invalid_grant');
    expect((await alexa.refresh(second.body.refresh_token)).body.error).toBe('invalid_grant');
  });

  it('when one refresh token is refreshed N times in parallel under rotation, then every answer carries the same successor and one chain stays live', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const results = await Promise.all(Array.from({ length: 6 }, () => alexa.refresh(tokens.refresh_token)));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
    const successors = new Set(results.map((r) => r.body.refresh_token));
    expect(successors.size).toBe(1);
    const [rt1] = [...successors] as string[];
    expect(await liveHeads(await grantOf(rt1))).toBe(1);
    expect((await alexa.refresh(rt1)).status).toBe(200);
  });

  it('when a rotated token is reused a week later after tokens:cleanup ran, then the grant is still revoked', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const latest = (await alexa.refresh(tokens.refresh_token)).body;
    const grantId = await grantOf(latest.refresh_token);
    await ctx.knex('oauth_refresh_tokens').where({ token_hash: sha256(tokens.refresh_token) }).update({ rotated_at: new Date(Date.now() - 7 * 24 * 3600 * 1000) });
    await ctx.services.cleanup.run();
    const reuse = await alexa.refresh(tokens.refresh_token);
    expect(reuse.body.error).toBe('invalid_grant');
    expect((await ctx.knex('oauth_grants').where({ id: grantId }).first()).revoked_at).not.toBeNull();
    expect((await alexa.refresh(latest.refresh_token)).body.error).toBe('invalid_grant');
    expect((await callApi(latest.access_token)).status).toBe(401);
  });

  it('when a token rotated before successors were derived is retried within the window, then a new successor replaces the old chain: still one live chain', async () => {
    const { alexa, tokens } = await linked({ rotation: 'rotate' });
    const first = await alexa.refresh(tokens.refresh_token);
    // The successor as an older server would have drawn it: random, not derived.
    await ctx.knex('oauth_refresh_tokens').where({ token_hash: sha256(first.body.refresh_token) }).update({ token_hash: sha256('lb_rt_random-legacy-successor') });
    const retry = await alexa.refresh(tokens.refresh_token);
    expect(retry.status).toBe(200);
    expect(await liveHeads(await grantOf(retry.body.refresh_token))).toBe(1);
    expect((await alexa.refresh(retry.body.refresh_token)).status).toBe(200);
  });
});
