import { createHash } from 'node:crypto';
import request from 'supertest';
import { OOB_REDIRECT_URI } from '../../src/oauth/clients/redirect-uris';
import { accessTokenStore } from '../support/tokens';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, csrfFrom, signInAs, TestContext, WebAgent, webAgent } from '../support/context';

let ctx: TestContext;
let agent: WebAgent;
let userEmail: string;
beforeAll(async () => {
  ctx = createTestContext();
  const user = await createUser(ctx);
  userEmail = user.email;
  agent = webAgent(ctx.app);
  await signInAs(agent, userEmail);
});
afterAll(() => ctx.close());

const challenge = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

async function simpleClient(opts: { redirectUris?: string[]; isPublic?: boolean; requirePkce?: boolean; allowImplicit?: boolean; scopes?: string[] } = {}) {
  return ctx.services.clients.create({
    name: 'Test App',
    redirectUris: opts.redirectUris ?? ['https://app.example/cb'],
    isPublic: opts.isPublic,
    requirePkce: opts.requirePkce,
    allowImplicit: opts.allowImplicit,
    scopes: opts.scopes,
  });
}

const authorize = (params: Record<string, string> | string, who: WebAgent = agent) =>
  who.get(`/oauth/authorize?${typeof params === 'string' ? params : new URLSearchParams(params).toString()}`);

/** Codes issued to one client (other test files run in parallel on the same database). */
const codeCount = (clientId: string) =>
  ctx
    .knex('oauth_authorization_codes as ac')
    .join('oauth_grants as g', 'g.id', 'ac.grant_id')
    .join('oauth_clients as c', 'c.id', 'g.client_id')
    .where('c.client_id', clientId)
    .count<{ count: number }[]>('* as count')
    .then((r) => Number(r[0].count));

describe('authorization endpoint: before the client and redirect URI are proven', () => {
  it('when the client is unknown, then an error page is rendered and nothing redirects', async () => {
    const res = await authorize({ client_id: 'nope', response_type: 'code', redirect_uri: 'https://evil.example/cb', state: 's' });
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.text).toContain('not registered');
  });

  it('when client_id is missing or repeated, then an error page is rendered', async () => {
    const { client } = await simpleClient();
    expect((await authorize({ response_type: 'code' })).status).toBe(400);
    const twice = await authorize(`client_id=${client.clientId}&client_id=${client.clientId}&response_type=code`);
    expect(twice.status).toBe(400);
    expect(twice.headers.location).toBeUndefined();
  });

  it.each([
    ['another vendor', (v: string) => `https://pitangui.amazon.com/api/skill/link/${v}X`],
    ['a trailing slash', (v: string) => `https://pitangui.amazon.com/api/skill/link/${v}/`],
    ['another case', (v: string) => `https://Pitangui.amazon.com/api/skill/link/${v}`],
    ['an explicit port', (v: string) => `https://pitangui.amazon.com:443/api/skill/link/${v}`],
    ['percent-encoding', (v: string) => `https://pitangui.amazon.com/api/skill/link%2F${v}`],
    ['an extra path', (v: string) => `https://pitangui.amazon.com/api/skill/link/${v}/../x`],
    ['a query', (v: string) => `https://pitangui.amazon.com/api/skill/link/${v}?x=1`],
    ['http', (v: string) => `http://pitangui.amazon.com/api/skill/link/${v}`],
  ])('when the redirect_uri differs by %s, then an error page is rendered and nothing redirects', async (_what, uri) => {
    const alexa = await createAlexaClient(ctx);
    const res = await authorize({ client_id: alexa.clientId, response_type: 'code', redirect_uri: uri(alexa.vendorId), state: 'xyz' });
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
  });

  it('when redirect_uri is omitted, then it is accepted only for a client with exactly one', async () => {
    const one = await simpleClient();
    const res = await authorize({ client_id: one.client.clientId, response_type: 'code', state: 's' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Allow');
    const alexa = await createAlexaClient(ctx);
    const three = await authorize({ client_id: alexa.clientId, response_type: 'code', state: 's' });
    expect(three.status).toBe(400);
    expect(three.headers.location).toBeUndefined();
  });
});

describe('authorization endpoint: after the client and redirect URI are proven', () => {
  const expectRedirectError = (res: request.Response, error: string, state = 'st=+/') => {
    expect(res.status).toBe(302);
    const url = new URL(res.headers.location);
    expect(`${url.origin}${url.pathname}`).toBe('https://app.example/cb');
    expect(url.searchParams.get('error')).toBe(error);
    expect(url.searchParams.get('state')).toBe(state);
    expect(url.searchParams.get('code')).toBeNull();
  };

  it('when response_type is missing, then invalid_request comes back with the state', async () => {
    const { client } = await simpleClient();
    expectRedirectError(await authorize({ client_id: client.clientId, redirect_uri: 'https://app.example/cb', state: 'st=+/' }), 'invalid_request');
  });

  it('when response_type is unknown, then unsupported_response_type', async () => {
    const { client } = await simpleClient();
    expectRedirectError(await authorize({ client_id: client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'id_token', state: 'st=+/' }), 'unsupported_response_type');
  });

  it('when response_type=token is asked by a client not configured for it, then unauthorized_client in the fragment', async () => {
    const { client } = await simpleClient();
    const res = await authorize({ client_id: client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'token', state: 'st' });
    expect(res.status).toBe(302);
    const fragment = new URLSearchParams(new URL(res.headers.location).hash.slice(1));
    expect(fragment.get('error')).toBe('unauthorized_client');
    expect(fragment.get('state')).toBe('st');
  });

  it('when a scope is unknown or not allowed for the client, then invalid_scope', async () => {
    const { client } = await simpleClient({ scopes: ['read'] });
    expectRedirectError(await authorize({ client_id: client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'code', scope: 'read admin', state: 'st=+/' }), 'invalid_scope');
    expectRedirectError(await authorize({ client_id: client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'code', scope: 'read write', state: 'st=+/' }), 'invalid_scope');
  });

  it('when a parameter is repeated, then invalid_request; unknown parameters are ignored', async () => {
    const { client } = await simpleClient();
    const base = `client_id=${client.clientId}&redirect_uri=${encodeURIComponent('https://app.example/cb')}&response_type=code&state=${encodeURIComponent('st=+/')}`;
    expectRedirectError(await authorize(`${base}&scope=read&scope=write`), 'invalid_request');
    expectRedirectError(await authorize(`${base}&response_type=code`), 'invalid_request');
    expect((await authorize(`${base}&foo=bar&nonce=1`)).status).toBe(200);
  });

  it('when PKCE uses plain, or a challenge comes without a method, then invalid_request', async () => {
    const { client } = await simpleClient();
    const base = { client_id: client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'code', state: 'st=+/' };
    const c = challenge('v'.repeat(50));
    expectRedirectError(await authorize({ ...base, code_challenge: c, code_challenge_method: 'plain' }), 'invalid_request');
    expectRedirectError(await authorize({ ...base, code_challenge: c }), 'invalid_request');
    expectRedirectError(await authorize({ ...base, code_challenge_method: 'S256' }), 'invalid_request');
    expectRedirectError(await authorize({ ...base, code_challenge: 'short', code_challenge_method: 'S256' }), 'invalid_request');
    expect((await authorize({ ...base, code_challenge: c, code_challenge_method: 'S256' })).status).toBe(200);
  });

  it('when a public client or a require_pkce client sends no challenge, then invalid_request', async () => {
    const pub = await simpleClient({ isPublic: true });
    expectRedirectError(await authorize({ client_id: pub.client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'code', state: 'st=+/' }), 'invalid_request');
    const strict = await simpleClient({ requirePkce: true });
    expectRedirectError(await authorize({ client_id: strict.client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'code', state: 'st=+/' }), 'invalid_request');
  });
});

describe('login and consent', () => {
  it('when the user is signed out, then the authorize request goes to the login page and back to consent', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const fresh = webAgent(ctx.app);
    const res = await fresh.get(alexa.authorizationPath());
    expect(res.status).toBe(302);
    const login = new URL(res.headers.location, 'http://localhost');
    expect(login.pathname).toBe('/login');
    expect(login.searchParams.get('return_to')).toBe(alexa.authorizationPath());
    const after = await signInAs(fresh, userEmail, undefined, login.searchParams.get('return_to')!);
    expect(after.headers.location).toBe(alexa.authorizationPath());
    const consent = await fresh.get(after.headers.location);
    expect(consent.status).toBe(200);
    expect(consent.text).toContain('Recipe Reader for Alexa');
  });

  it('when the consent page is shown, then it names the client and each scope in plain words, and is protected', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const res = await agent.get(alexa.authorizationPath());
    expect(res.text).toContain('Recipe Reader for Alexa');
    expect(res.text).toContain('See your profile, your recipes and your bookmarks');
    expect(res.text).toContain('Add, change and remove your recipes and bookmarks');
    expect(res.text).toMatch(/name="decision" value="allow"/);
    expect(res.text).toMatch(/name="decision" value="deny"/);
    expect(res.text).not.toContain(alexa.state); // the request stays on the server
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['content-security-policy']).not.toContain('form-action');
  });

  it('when the same consent is submitted twice, then the second is refused and only one code exists', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const page = await agent.get(alexa.authorizationPath());
    const form = { _csrf: csrfFrom(page.text), transaction_id: /name="transaction_id" value="([^"]+)"/.exec(page.text)![1], decision: 'allow' };
    const first = await agent.post('/oauth/authorize').type('form').send(form);
    expect(first.status).toBe(302);
    const second = await agent.post('/oauth/authorize').type('form').send(form);
    expect(second.status).toBe(400);
    expect(second.headers.location).toBeUndefined();
  });

  it('when one consent is submitted in parallel, then exactly one code is issued', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const page = await agent.get(alexa.authorizationPath());
    const form = { _csrf: csrfFrom(page.text), transaction_id: /name="transaction_id" value="([^"]+)"/.exec(page.text)![1], decision: 'allow' };
    const before = await codeCount(alexa.client.clientId);
    const results = await Promise.all(Array.from({ length: 6 }, () => agent.post('/oauth/authorize').type('form').send(form)));
    expect(results.filter((r) => r.status === 302)).toHaveLength(1);
    expect(await codeCount(alexa.client.clientId)).toBe(before + 1);
  });

  it('when another user submits the transaction, then it is refused', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const page = await agent.get(alexa.authorizationPath());
    const txId = /name="transaction_id" value="([^"]+)"/.exec(page.text)![1];
    const other = webAgent(ctx.app);
    const otherUser = await createUser(ctx);
    await signInAs(other, otherUser.email);
    const home = await other.get('/');
    const res = await other.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(home.text), transaction_id: txId, decision: 'allow' });
    expect(res.status).toBe(400);
  });

  it('when the consent is posted without the CSRF token, then it is refused', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const page = await agent.get(alexa.authorizationPath());
    const txId = /name="transaction_id" value="([^"]+)"/.exec(page.text)![1];
    const res = await agent.post('/oauth/authorize').type('form').send({ transaction_id: txId, decision: 'allow' });
    expect(res.status).toBe(403);
  });

  it('when GET carries decision=allow, then no GET ever grants', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const res = await agent.get(alexa.authorizationPath({ decision: 'allow' }));
    expect(res.status).toBe(200);
    expect(await codeCount(alexa.client.clientId)).toBe(0);
  });

  it('when the client removes the redirect URI before the user decides, then the decision is refused without redirect', async () => {
    const { client } = await simpleClient({ redirectUris: ['https://app.example/cb', 'https://app.example/other'] });
    const page = await authorize({ client_id: client.clientId, redirect_uri: 'https://app.example/other', response_type: 'code', state: 's' });
    await ctx.services.clients.update(client.id, { redirectUris: ['https://app.example/cb'] });
    const res = await agent.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(page.text), transaction_id: /name="transaction_id" value="([^"]+)"/.exec(page.text)![1], decision: 'allow' });
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
  });
});

describe('implicit grant and out-of-band codes', () => {
  it('when a client configured for the implicit grant is allowed, then the token, type, lifetime and state come in the fragment, without a refresh token', async () => {
    const { client } = await simpleClient({ allowImplicit: true });
    const page = await authorize({ client_id: client.clientId, redirect_uri: 'https://app.example/cb', response_type: 'token', state: 'a+b=c/d' });
    const res = await agent.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(page.text), transaction_id: /name="transaction_id" value="([^"]+)"/.exec(page.text)![1], decision: 'allow' });
    expect(res.status).toBe(302);
    const url = new URL(res.headers.location);
    expect(url.search).toBe('');
    const f = new URLSearchParams(url.hash.slice(1));
    expect(f.get('access_token')).toMatch(/^lb_at_/);
    expect(f.get('token_type')).toBe('Bearer');
    expect(f.get('expires_in')).toBe('3600');
    expect(f.get('state')).toBe('a+b=c/d');
    expect(f.get('refresh_token')).toBeNull();
    expect((await accessTokenStore(ctx).findLive(createHash('sha256').update(f.get('access_token')!).digest('hex')))?.scope).toEqual(['read', 'write']);
  });

  it('when a client registered the out-of-band URI, then the code is shown on a page and can be redeemed by hand', async () => {
    const { client, clientSecret } = await simpleClient({ redirectUris: [OOB_REDIRECT_URI] });
    const page = await authorize({ client_id: client.clientId, redirect_uri: OOB_REDIRECT_URI, response_type: 'code' });
    const res = await agent.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(page.text), transaction_id: /name="transaction_id" value="([^"]+)"/.exec(page.text)![1], decision: 'allow' });
    expect(res.status).toBe(200);
    const code = /id="authorization-code">([^<]+)</.exec(res.text)![1];
    const token = await request(ctx.app).post('/oauth/token').type('form').auth(client.clientId, clientSecret!).send({ grant_type: 'authorization_code', code, redirect_uri: OOB_REDIRECT_URI });
    expect(token.status).toBe(200);
    expect(token.body.access_token).toMatch(/^lb_at_/);
  });
});

describe('response_mode: every advertised mode is honoured, any other is refused', () => {
  const decideAllow = async (page: { text: string }) =>
    agent.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(page.text), transaction_id: /name="transaction_id" value="([^"]+)"/.exec(page.text)![1], decision: 'allow' });

  it('when a code is asked with response_mode=fragment, then the code and state come back in the fragment, not the query', async () => {
    const { client } = await simpleClient();
    const page = await authorize({ client_id: client.clientId, response_type: 'code', response_mode: 'fragment', state: 'a+b=c' });
    expect(page.status).toBe(200);
    const res = await decideAllow(page);
    expect(res.status).toBe(302);
    const url = new URL(res.headers.location);
    expect(url.search).toBe('');
    const f = new URLSearchParams(url.hash.slice(1));
    expect(f.get('code')).toMatch(/^lb_ac_/);
    expect(f.get('state')).toBe('a+b=c');
  });

  it('when a code is asked with response_mode=query, then it comes in the query as by default', async () => {
    const { client } = await simpleClient();
    const res = await decideAllow(await authorize({ client_id: client.clientId, response_type: 'code', response_mode: 'query', state: 's' }));
    const url = new URL(res.headers.location);
    expect(url.hash).toBe('');
    expect(url.searchParams.get('code')).toMatch(/^lb_ac_/);
  });

  it('when an error follows a request with response_mode=fragment, then it comes back in the fragment', async () => {
    const { client } = await simpleClient();
    const res = await authorize({ client_id: client.clientId, response_type: 'code', response_mode: 'fragment', scope: 'admin', state: 's' });
    expect(res.status).toBe(302);
    const url = new URL(res.headers.location);
    expect(url.search).toBe('');
    expect(new URLSearchParams(url.hash.slice(1)).get('error')).toBe('invalid_scope');
  });

  it.each(['form_post', 'query.jwt', 'jwt', 'web_message'])('when response_mode=%s is asked, then invalid_request in the query and no code', async (mode) => {
    const { client } = await simpleClient();
    const res = await authorize({ client_id: client.clientId, response_type: 'code', response_mode: mode, state: 's' });
    expect(res.status).toBe(302);
    const url = new URL(res.headers.location);
    expect(url.searchParams.get('error')).toBe('invalid_request');
    expect(url.searchParams.get('state')).toBe('s');
    expect(await codeCount(client.clientId)).toBe(0);
  });

  it('when a token is asked with response_mode=query, then invalid_request in the fragment (a token never goes in a query)', async () => {
    const { client } = await simpleClient({ allowImplicit: true });
    const res = await authorize({ client_id: client.clientId, response_type: 'token', response_mode: 'query', state: 's' });
    expect(res.status).toBe(302);
    const url = new URL(res.headers.location);
    expect(url.search).toBe('');
    expect(new URLSearchParams(url.hash.slice(1)).get('error')).toBe('invalid_request');
  });

  it('when the metadata is read, then it advertises exactly the modes honoured', async () => {
    const res = await request(ctx.app).get('/.well-known/oauth-authorization-server');
    expect(res.body.response_modes_supported).toEqual(['query', 'fragment']);
  });
});
