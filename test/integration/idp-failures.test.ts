import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { logger } from '../../src/lib/logger';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, signInAs, TestContext, uniqueEmail, webAgent } from '../support/context';
import { backToUs, LwaStandIn, LyingMode, LyingOidc, startAt, startLwaStandIn, startLyingOidc } from '../support/upstreams';

/**
 * What goes wrong upstream never signs anyone in, never writes half an account, and always ends
 * on a clear page: an ID token that fails any check, a userinfo answer without (or with another)
 * subject, an upstream that errs, is down or is slow (bounded). And the amazon preset against a
 * stand-in that answers as Login with Amazon documents it.
 */
jest.setTimeout(60_000);

let ctx: TestContext;
let lying: LyingOidc;
let lwa: LwaStandIn;
const tag = randomBytes(3).toString('hex');
const lyingName = `lying-${tag}`;
const amazonName = `amazon-${tag}`;
const lwaClient = { clientId: `amzn1.application-oa2-client.${tag}`, clientSecret: randomBytes(24).toString('hex') };

beforeAll(async () => {
  ctx = createTestContext({ IDP_TIMEOUT_SECONDS: '1' });
  lying = await startLyingOidc(`client-${tag}`);
  lwa = await startLwaStandIn(lwaClient);
  await ctx.services.idps.create({ name: lyingName, type: 'oidc', issuer: lying.issuer, clientId: `client-${tag}`, clientSecret: 's3cret', allowHttp: true });
  await ctx.services.idps.create({
    name: amazonName,
    type: 'amazon',
    clientId: lwaClient.clientId,
    clientSecret: lwaClient.clientSecret,
    authorizationUrl: `${lwa.origin}/ap/oa`,
    tokenUrl: `${lwa.origin}/auth/o2/token`,
    userinfoUrl: `${lwa.origin}/user/profile`,
    allowHttp: true,
  });
});

afterAll(async () => {
  for (const name of [lyingName, amazonName]) await ctx.services.idps.remove(name, { force: true }).catch(() => undefined);
  await lying?.stop();
  await lwa?.stop();
  await ctx?.close();
});

/**
 * What a failed sign-in through this provider may have left: its identities, and users with the
 * upstream's email (other test files create users at the same time: never a global count).
 */
async function traces(provider: string, email?: unknown) {
  const p = await ctx.services.idps.get(provider);
  const identities = Number((await ctx.knex('user_identities').where({ provider_id: p.id }).count<Array<{ n: string }>>({ n: '*' }))[0].n);
  const users = typeof email === 'string' ? ((await ctx.services.accounts.findByEmail(email)) ? 1 : 0) : 0;
  return { identities, users };
}

/** Start, let the stand-in redirect back at once, and return our answer to the callback. */
async function roundTrip(name: string, agent = webAgent(ctx.app), returnTo = '/') {
  const authorizationUrl = await startAt(agent, `/login/idp/${name}/start?return_to=${encodeURIComponent(returnTo)}`);
  const up = await fetch(authorizationUrl, { redirect: 'manual' });
  const back = new URL(up.headers.get('location')!);
  return { agent, res: await backToUs(agent, back) };
}

describe('the amazon preset against a Login with Amazon stand-in', () => {
  it('when a new Amazon user continues, then the profile\'s user_id is the subject, the client secret goes in the body, PKCE is checked, and the Alexa flow completes', async () => {
    lwa.mode = 'ok';
    const email = uniqueEmail('amazon');
    lwa.profile = { user_id: `amzn1.account.${randomBytes(8).toString('hex').toUpperCase()}`, name: 'Alexa Owner', email };
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const agent = webAgent(ctx.app);
    const returnTo = new URL((await agent.get(alexa.authorizationPath())).headers.location, 'http://x').searchParams.get('return_to')!;
    const authorizationUrl = new URL(await startAt(agent, `/login/idp/${amazonName}/start?return_to=${encodeURIComponent(returnTo)}`));
    expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${lwa.origin}/ap/oa`);
    expect(authorizationUrl.searchParams.get('scope')).toBe('profile');
    expect(authorizationUrl.searchParams.get('redirect_uri')).toBe(`http://localhost:3000/login/idp/${amazonName}/callback`);
    const up = await fetch(authorizationUrl, { redirect: 'manual' });
    const landed = await backToUs(agent, new URL(up.headers.get('location')!));
    expect(landed.status).toBe(303);
    expect(landed.headers.location).toBe(returnTo);
    expect(lwa.lastTokenRequest?.get('client_secret')).toBe(lwaClient.clientSecret);
    expect(lwa.lastTokenRequest?.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43,128}$/);

    const location = await alexa.openAndDecide({ email }, 'allow', agent);
    expect((await alexa.exchange(location.searchParams.get('code')!)).status).toBe(200);
    const user = await ctx.services.accounts.findByEmail(email);
    // Amazon does not say the email is verified: it is kept on the identity, not made the account's address.
    expect(user).toBeUndefined();
    const me = await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${alexa.tokens!.access_token}`);
    expect(me.status).toBe(200);
    expect(me.body.name).toBe('Alexa Owner');
  });

  it('when an Amazon profile has the email of a local account, then its password is asked (Amazon is never "verified" to us)', async () => {
    const local = await createUser(ctx, { email: uniqueEmail('local-amazon') });
    lwa.profile = { user_id: `amzn1.account.${randomBytes(8).toString('hex')}`, name: 'X', email: local.email };
    const { res } = await roundTrip(amazonName);
    expect(res.status).toBe(200);
    expect(res.text).toContain('already exists');
  });

  it('when the profile has no user_id, then no account is made and the page says why', async () => {
    lwa.profile = { name: 'No Id', email: uniqueEmail() };
    const before = await traces(amazonName, lwa.profile.email);
    const { res } = await roundTrip(amazonName);
    expect(res.status).toBe(502);
    expect(res.text).toContain('Sign-in failed');
    expect(await traces(amazonName, lwa.profile.email)).toEqual(before);
  });

  it('when Amazon\'s token endpoint is down or does not answer, then a page within the timeout, and password sign-in keeps working', async () => {
    const user = await createUser(ctx);
    for (const mode of ['down', 'hang'] as const) {
      lwa.mode = mode;
      const started = Date.now();
      const { res } = await roundTrip(amazonName);
      expect(res.status).toBe(502);
      expect(res.text).toContain('Could not reach the provider');
      expect(res.text).toContain('Try again');
      expect(Date.now() - started).toBeLessThan(5000);
    }
    lwa.mode = 'ok';
    const agent = webAgent(ctx.app);
    expect((await signInAs(agent, user.email)).status).toBe(303);
  });
});

describe('an OpenID Connect provider that lies', () => {
  const cases: Array<[LyingMode, string]> = [
    ['wrong-iss', 'an ID token from another issuer'],
    ['wrong-aud', 'an ID token for another client'],
    ['wrong-nonce', 'an ID token with another nonce'],
    ['expired', 'an expired ID token'],
    ['bad-signature', 'an ID token signed with a key not in its JWKS'],
    ['no-id-token', 'no ID token at all'],
    ['userinfo-no-sub', 'a userinfo answer without a subject'],
    ['userinfo-other-sub', 'a userinfo answer about someone else'],
    ['token-error', 'an OAuth error from the token endpoint'],
  ];
  it.each(cases)('when it sends %s (%s), then a 502 page, nobody signed in, no account created', async (mode) => {
    lying.mode = mode;
    lying.claims = { sub: `liar-${mode}-${tag}`, email: uniqueEmail('liar'), email_verified: true }; // no name: userinfo is asked
    const before = await traces(lyingName, lying.claims.email);
    const { agent, res } = await roundTrip(lyingName);
    expect(res.status).toBe(502);
    expect(res.text).toMatch(/Sign-in failed|cannot accept/);
    expect(await traces(lyingName, lying.claims.email)).toEqual(before);
    expect((await agent.get('/account/identities')).status).toBe(303);
  });

  it('when a sign-in fails, then the log names the provider and the failure, never the code, the secret or a token', async () => {
    const warn = jest.spyOn(logger, 'warn');
    try {
      lying.mode = 'token-error';
      lying.claims = { sub: `logged-${tag}` };
      const { res } = await roundTrip(lyingName);
      expect(res.status).toBe(502);
      const logged = JSON.stringify(warn.mock.calls);
      expect(logged).toContain(lyingName);
      expect(logged).toContain('response_invalid_grant');
      expect(logged).not.toMatch(/s3cret|code-[0-9a-f]{16}|at-[0-9a-f]{16}|eyJ/);
    } finally {
      warn.mockRestore();
    }
  });

  it('when it behaves, then the same stand-in signs the user in (the checks above are what failed)', async () => {
    lying.mode = 'ok';
    lying.claims = { sub: `honest-${tag}`, email: uniqueEmail('honest'), email_verified: true, name: 'Honest' };
    const { res } = await roundTrip(lyingName);
    expect(res.status).toBe(303);
    expect(await ctx.services.accounts.findByEmail(String(lying.claims.email))).toBeDefined();
  });

  it('when its token endpoint or its discovery hangs, then the page comes within the bound', async () => {
    lying.mode = 'token-hang';
    let started = Date.now();
    expect((await roundTrip(lyingName)).res.status).toBe(502);
    expect(Date.now() - started).toBeLessThan(5000);

    // Discovery is cached after a success: another provider on the hanging stand-in is needed.
    const fresh = `lying-fresh-${tag}`;
    await ctx.services.idps.create({ name: fresh, type: 'oidc', issuer: lying.issuer, clientId: `client-${tag}`, clientSecret: 's', allowHttp: true });
    try {
      lying.mode = 'discovery-hang';
      started = Date.now();
      const res = await webAgent(ctx.app).get(`/login/idp/${fresh}/start`);
      expect(res.status).toBe(502);
      expect(res.text).toContain('Could not reach the provider');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      lying.mode = 'ok';
      await ctx.services.idps.remove(fresh, { force: true });
    }
  });
});

describe('hostile requests to the sign-in routes', () => {
  it('when the provider name, state, cookies or parameters are nonsense, then 4xx pages, never a 5xx', async () => {
    const agent = webAgent(ctx.app);
    const paths = [
      '/login/idp/nope/start',
      '/login/idp/NOPE%00/start',
      `/login/idp/${'a'.repeat(500)}/start`,
      '/login/idp/nope/callback?code=x&state=y',
      `/login/idp/${lyingName}/callback`,
      `/login/idp/${lyingName}/callback?code=x&state=y`,
      `/login/idp/${lyingName}/callback?error=access_denied&state=y`,
      `/login/idp/${lyingName}/callback?state=a&state=b`,
      `/login/idp/${lyingName}/start?return_to=https://evil.example/`,
    ];
    for (const path of paths) {
      const res = await agent.get(path).set('Cookie', `lb.idp=${'A'.repeat(3000)}`);
      expect({ path, status: res.status < 500 || res.status === 502 }).toEqual({ path, status: true });
      expect(res.status).not.toBe(500);
    }
    // An open redirect is not possible through return_to.
    const start = await agent.get(`/login/idp/${lyingName}/start?return_to=${encodeURIComponent('//evil.example')}`);
    expect(start.status).toBe(303);
    const link = await agent.post('/login/idp/link').type('form').send({ password: 'x' });
    expect(link.status).toBe(403); // no CSRF token
    const cancel = await agent.post('/login/idp/cancel').type('form').send({ return_to: '/oauth/authorize?client_id=x' });
    expect(cancel.status).toBe(403);
  });

  it('when the pending-link cookie is forged or missing, then the password form says the sign-in expired', async () => {
    const page = await request(ctx.app).get('/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const cookies = (page.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]);
    const res = await request(ctx.app).post('/login/idp/link').set('Cookie', [...cookies, 'lb.idp-link=v1.abc.def.ghi.jkl'].join('; ')).type('form').send({ _csrf: csrf, password: 'whatever' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('expired');
  });
});
