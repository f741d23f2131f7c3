import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, WebAgent, webAgent } from '../support/context';
import { backToUs, OidcUpstream, startAt, startOidcUpstream, throughUpstream } from '../support/upstreams';

/**
 * Sign-in through a real OpenID Connect provider (node-oidc-provider on loopback, with its own
 * users, login and consent): the whole Alexa linking flow through it, and the account rules.
 */
jest.setTimeout(60_000);

let ctx: TestContext;
let upstream: OidcUpstream;
const tag = randomBytes(3).toString('hex');
const names = { plain: `oidc-${tag}`, trusted: `oidc-trusted-${tag}`, closed: `oidc-closed-${tag}` };
const clientSecret = randomBytes(24).toString('base64url');
const callback = (name: string) => `http://localhost:3000/login/idp/${name}/callback`;

beforeAll(async () => {
  ctx = createTestContext();
  upstream = await startOidcUpstream(
    Object.values(names).map((name) => ({
      client_id: `linkbridge-${name}`,
      client_secret: clientSecret,
      redirect_uris: [callback(name)],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    })),
  );
  const add = (name: string, extra: Record<string, unknown> = {}) =>
    ctx.services.idps.create({ name, type: 'oidc', displayName: `Company SSO ${name}`, issuer: upstream.issuer, clientId: `linkbridge-${name}`, clientSecret, allowHttp: true, ...extra });
  await add(names.plain);
  await add(names.trusted, { trustEmail: true });
  await add(names.closed, { allowSignup: false });
});

afterAll(async () => {
  for (const name of Object.values(names)) await ctx.services.idps.remove(name, { force: true }).catch(() => undefined);
  await upstream?.stop();
  await ctx?.close();
});

async function upstreamUser(opts: { email?: string; verified?: boolean; name?: string } = {}) {
  const u = { sub: `sub-${randomBytes(6).toString('hex')}`, email: opts.email ?? uniqueEmail('upstream'), email_verified: opts.verified ?? true, name: opts.name ?? 'Upstream Person' };
  await upstream.addUser(u);
  return u;
}

/** Our login page -> Continue with <name> -> the upstream's login and consent -> our callback. */
async function signInThrough(agent: WebAgent, name: string, user: { email: string }, returnTo?: string) {
  const login = await agent.get(`/login${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`);
  const href = new RegExp(`href="(/login/idp/${name}/start[^"]*)"`).exec(login.text)?.[1]?.replace(/&amp;/g, '&');
  if (!href) throw new Error('no "Continue with" button for the provider');
  const authorizationUrl = await startAt(agent, href);
  const back = await throughUpstream(authorizationUrl, user);
  expect(`${back.origin}${back.pathname}`).toBe(callback(name));
  return backToUs(agent, back);
}

describe('the whole Alexa flow through an OpenID Connect provider', () => {
  it('when Alexa opens the authorization URL and the user continues with the provider, then Alexa gets a code with its exact state, and the tokens act as that user', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx), { region: 'EU' });
    const person = await upstreamUser({ name: 'Ada Upstream' });
    const agent = webAgent(ctx.app);

    // Alexa's authorize -> our login page, which offers the provider and keeps the request.
    const authorize = await agent.get(alexa.authorizationPath());
    expect(authorize.status).toBe(302);
    const loginPath = authorize.headers.location;
    const loginPage = await agent.get(loginPath);
    expect(loginPage.text).toContain(`Continue with Company SSO ${names.plain}`);
    const returnTo = new URL(loginPath, 'http://x').searchParams.get('return_to')!;

    // Continue with it -> its login and consent -> back to our callback -> our consent page.
    const authorizationUrl = await startAt(agent, `/login/idp/${names.plain}/start?return_to=${encodeURIComponent(returnTo)}`);
    const upstreamAuth = new URL(authorizationUrl);
    expect(upstreamAuth.origin).toBe(upstream.issuer);
    expect(upstreamAuth.searchParams.get('redirect_uri')).toBe(callback(names.plain));
    expect(upstreamAuth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(upstreamAuth.searchParams.get('nonce')).toBeTruthy();
    expect(upstreamAuth.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const back = await throughUpstream(authorizationUrl, person);
    const landed = await backToUs(agent, back);
    expect(landed.status).toBe(303);
    expect(landed.headers.location).toBe(returnTo);
    const consent = await agent.get(landed.headers.location);
    expect(consent.status).toBe(200);
    expect(consent.text).toContain('Connect Recipe Reader for Alexa');

    // Allow -> Alexa's redirect with a code and the exact state -> token exchange -> the API.
    const transactionId = /name="transaction_id" value="([^"]+)"/.exec(consent.text)![1];
    const decided = await agent.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(consent.text), transaction_id: transactionId, decision: 'allow' });
    expect(decided.status).toBe(302);
    const location = new URL(decided.headers.location);
    expect(`${location.origin}${location.pathname}`).toBe(alexa.redirectUri);
    expect(location.searchParams.get('state')).toBe(alexa.state);
    const exchanged = await alexa.exchange(location.searchParams.get('code')!);
    expect(exchanged.status).toBe(200);
    const me = await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${alexa.tokens!.access_token}`);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: person.email, name: 'Ada Upstream' });

    // The account page lists the identity; it is the only way in, so it cannot be removed.
    const page = await agent.get('/account/identities');
    expect(page.text).toContain(`Company SSO ${names.plain}`);
    expect(page.text).toContain(person.email);
    expect(page.text).toContain('Your only way to sign in');
  });

  it('when the same upstream user signs in again, then it is the same local user (matched by subject, not email)', async () => {
    const person = await upstreamUser();
    const first = await signInThrough(webAgent(ctx.app), names.plain, person);
    expect(first.status).toBe(303);
    const user = await ctx.services.accounts.findByEmail(person.email);
    const again = webAgent(ctx.app);
    expect((await signInThrough(again, names.plain, person)).status).toBe(303);
    const home = await again.get('/account/identities');
    expect(home.text).toContain(person.email);
    const users = (await ctx.services.accounts.list()).filter((u) => u.email === person.email);
    expect(users.map((u) => u.id)).toEqual([user!.id]);
  });

  it('when the user cancels at the provider, then a page offers to try again and to go back to Alexa with access_denied and the exact state', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const agent = webAgent(ctx.app);
    const loginPath = (await agent.get(alexa.authorizationPath())).headers.location;
    const returnTo = new URL(loginPath, 'http://x').searchParams.get('return_to')!;
    const authorizationUrl = await startAt(agent, `/login/idp/${names.plain}/start?return_to=${encodeURIComponent(returnTo)}`);
    const back = await throughUpstream(authorizationUrl, 'cancel');
    expect(back.searchParams.get('error')).toBe('access_denied');
    const page = await backToUs(agent, back);
    expect(page.status).toBe(400);
    expect(page.text).toContain('Sign-in cancelled');
    expect(page.text).toContain(`/login/idp/${names.plain}/start?return_to=${encodeURIComponent(returnTo)}`.replace(/&/g, '&amp;'));
    const cancel = await agent.post('/login/idp/cancel').type('form').send({ _csrf: csrfFrom(page.text), return_to: returnTo });
    expect(cancel.status).toBe(302);
    const location = new URL(cancel.headers.location);
    expect(`${location.origin}${location.pathname}`).toBe(alexa.redirectUri);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe(alexa.state);
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('when the callback comes back without this browser\'s round trip, or a second time, then a clear 400 page and nobody is signed in', async () => {
    const person = await upstreamUser();
    const agent = webAgent(ctx.app);
    const authorizationUrl = await startAt(agent, `/login/idp/${names.plain}/start`);
    const back = await throughUpstream(authorizationUrl, person);

    // Another browser (an attacker's link with their own code): no round trip cookie.
    const stranger = await backToUs(webAgent(ctx.app), back);
    expect(stranger.status).toBe(400);
    expect(stranger.text).toContain('This sign-in has expired');

    // The right browser with a changed state.
    const tampered = new URL(back.href);
    tampered.searchParams.set('state', 'x'.repeat(43));
    const wrong = await backToUs(agent, tampered);
    expect(wrong.status).toBe(400);
    // ...which also spent this browser's round trip: the real answer is now a replay.
    const replay = await backToUs(agent, back);
    expect(replay.status).toBe(400);
    expect(await ctx.services.accounts.findByEmail(person.email)).toBeUndefined();
    expect((await agent.get('/account/identities')).status).toBe(303);
  });
});

describe('which account an upstream identity reaches', () => {
  it('when someone registers a local user\'s email at the provider, then signing in asks for the local password and never links without it', async () => {
    const victim = await createUser(ctx, { email: uniqueEmail('victim') });
    const attacker = await upstreamUser({ email: victim.email, verified: true });
    const agent = webAgent(ctx.app);
    const page = await signInThrough(agent, names.plain, attacker);
    expect(page.status).toBe(200);
    expect(page.text).toContain('already exists');
    expect(page.text).toContain(victim.email);
    expect((await agent.get('/account/identities')).status).toBe(303); // not signed in

    // Guessing fails, and nothing is linked.
    const wrong = await agent.post('/login/idp/link').type('form').send({ _csrf: csrfFrom(page.text), password: 'not the password' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('Incorrect email or password');
    expect((await ctx.services.idpLogin.identities(victim)).identities).toEqual([]);

    // A fresh sign-in by the attacker still reaches the same question, not the account.
    const again = await signInThrough(webAgent(ctx.app), names.plain, attacker);
    expect(again.status).toBe(200);
    expect(again.text).toContain('already exists');
  });

  it('when the owner of the local account proves its password, then the identity is linked and later sign-ins need no password', async () => {
    const owner = await createUser(ctx, { email: uniqueEmail('owner') });
    const person = await upstreamUser({ email: owner.email, verified: false });
    const agent = webAgent(ctx.app);
    const page = await signInThrough(agent, names.plain, person, '/bookmarks');
    const linked = await agent.post('/login/idp/link').type('form').send({ _csrf: csrfFrom(page.text), password: TEST_PASSWORD });
    expect(linked.status).toBe(303);
    expect(linked.headers.location).toBe('/bookmarks');
    const list = (await ctx.services.idpLogin.identities(owner)).identities;
    expect(list.map((i) => [i.subject, i.removable])).toEqual([[person.sub, true]]);

    const next = await signInThrough(webAgent(ctx.app), names.plain, person);
    expect(next.status).toBe(303);
    // Removing it is allowed (the password remains).
    const identities = await agent.get('/account/identities');
    const id = /action="\/account\/identities\/(\d+)\/remove"/.exec(identities.text)![1];
    const removed = await agent.post(`/account/identities/${id}/remove`).type('form').send({ _csrf: csrfFrom(identities.text) });
    expect(removed.status).toBe(303);
    expect((await ctx.services.idpLogin.identities(owner)).identities).toEqual([]);
  });

  it('when the provider is trusted for email and says the email is verified, then it links to the local account at once', async () => {
    const owner = await createUser(ctx, { email: uniqueEmail('trusted') });
    const person = await upstreamUser({ email: owner.email, verified: true });
    const res = await signInThrough(webAgent(ctx.app), names.trusted, person);
    expect(res.status).toBe(303);
    expect((await ctx.services.idpLogin.identities(owner)).identities.map((i) => i.subject)).toEqual([person.sub]);
  });

  it('when the provider is trusted but the email is not verified, then the local password is still asked', async () => {
    const owner = await createUser(ctx, { email: uniqueEmail('unverified') });
    const person = await upstreamUser({ email: owner.email, verified: false });
    const res = await signInThrough(webAgent(ctx.app), names.trusted, person);
    expect(res.status).toBe(200);
    expect(res.text).toContain('already exists');
    expect((await ctx.services.idpLogin.identities(owner)).identities).toEqual([]);
  });

  it('when a new user\'s email is not verified upstream, then the new account does not take that email as its address', async () => {
    const email = uniqueEmail('squat');
    const person = await upstreamUser({ email, verified: false });
    expect((await signInThrough(webAgent(ctx.app), names.plain, person)).status).toBe(303);
    expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
    // The real owner can still sign up with it.
    await expect(createUser(ctx, { email })).resolves.toMatchObject({ email });
  });

  it('when the user behind an identity is disabled, then signing in through the provider is refused with a page', async () => {
    const person = await upstreamUser();
    expect((await signInThrough(webAgent(ctx.app), names.plain, person)).status).toBe(303);
    const user = (await ctx.services.accounts.findByEmail(person.email))!;
    await ctx.services.accounts.disableUser(user.id);
    const agent = webAgent(ctx.app);
    const res = await signInThrough(agent, names.plain, person);
    expect(res.status).toBe(403);
    expect(res.text).toContain('Account disabled');
    expect((await agent.get('/account/identities')).status).toBe(303);
  });

  it('when sign-up is closed for the provider, then an unknown identity gets a clear page and no account', async () => {
    const person = await upstreamUser();
    const res = await signInThrough(webAgent(ctx.app), names.closed, person);
    expect(res.status).toBe(403);
    expect(res.text).toContain('new accounts cannot be created');
    expect(await ctx.services.accounts.findByEmail(person.email)).toBeUndefined();
  });

  it('when a provider is turned off, then its button goes, its accounts stay, and they come back when it is turned on', async () => {
    const person = await upstreamUser();
    expect((await signInThrough(webAgent(ctx.app), names.plain, person)).status).toBe(303);
    const user = await ctx.services.accounts.findByEmail(person.email);
    await ctx.services.idps.update(names.plain, { enabled: false });
    try {
      expect((await webAgent(ctx.app).get('/login')).text).not.toContain(`/login/idp/${names.plain}/start`);
      expect((await webAgent(ctx.app).get(`/login/idp/${names.plain}/start`)).status).toBe(404);
      expect(await ctx.services.accounts.findById(user!.id)).toBeDefined();
    } finally {
      await ctx.services.idps.update(names.plain, { enabled: true });
    }
    expect((await signInThrough(webAgent(ctx.app), names.plain, person)).status).toBe(303);
  });

  it('when a user without a password tries to remove their only sign-in, then it is refused; with a second one linked it is allowed', async () => {
    const person = await upstreamUser();
    const agent = webAgent(ctx.app);
    expect((await signInThrough(agent, names.plain, person)).status).toBe(303);
    let page = await agent.get('/account/identities');
    expect(page.text).not.toContain('/remove"');
    const user = (await ctx.services.accounts.findByEmail(person.email))!;
    const [only] = (await ctx.services.idpLogin.identities(user)).identities;
    const refused = await agent.post(`/account/identities/${only.id}/remove`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('only way you can sign in');

    // Link a second provider from the account page (the same upstream person, another client).
    const linkHref = new RegExp(`href="(/login/idp/${names.trusted}/start[^"]*)"`).exec(page.text)![1].replace(/&amp;/g, '&');
    const back = await throughUpstream(await startAt(agent, linkHref), person);
    const linked = await backToUs(agent, back);
    expect(linked.headers.location).toBe('/account/identities?linked=1');
    page = await agent.get('/account/identities');
    const removed = await agent.post(`/account/identities/${only.id}/remove`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(removed.status).toBe(303);
    expect((await ctx.services.idpLogin.identities(user)).identities.map((i) => i.providerName)).toEqual([names.trusted]);
    // Another user's identity id is not found.
    const other = webAgent(ctx.app);
    const stranger = await createUser(ctx);
    await signInAs(other, stranger.email);
    const page2 = await other.get('/account/identities');
    expect((await other.post(`/account/identities/${only.id + 1}/remove`).type('form').send({ _csrf: csrfFrom(page2.text) })).status).toBe(404);
  });
});

describe('LOGIN_MODE=idp-only', () => {
  it('when passwords are turned off, then the login page goes straight to the provider, and the password form and sign-up are refused', async () => {
    const only = createTestContext({ LOGIN_MODE: 'idp-only', LOGIN_IDP: names.plain });
    try {
      const agent = webAgent(only.app);
      const res = await agent.get('/login?return_to=%2Fbookmarks');
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe(`/login/idp/${names.plain}/start?return_to=%2Fbookmarks`);
      const person = await upstreamUser();
      const back = await throughUpstream(await startAt(agent, res.headers.location), person);
      const landed = await backToUs(agent, back);
      expect(landed.headers.location).toBe('/bookmarks');

      const user = await createUser(only);
      expect((await webAgent(only.app).get('/signup')).status).toBe(303);
      // A valid anonymous form token (the same secret, from a password-mode page), and still no password sign-in.
      const form = await request(ctx.app).get('/login');
      const cookie = form.headers['set-cookie'] as unknown as string[];
      const post = await request(only.app).post('/login').set('Cookie', cookie.map((c) => c.split(';')[0]).join('; ')).type('form').send({ _csrf: csrfFrom(form.text), email: user.email, password: TEST_PASSWORD });
      expect(post.status).toBe(403);
      expect(post.text).toContain('Signing in with a password is turned off');
      expect(post.text).not.toContain('name="password"');
    } finally {
      await only.close();
    }
  });
});
