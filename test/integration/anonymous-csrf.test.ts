import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { alexaRedirectUris } from '../../src/oauth/clients/redirect-uris';
import { createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, webAgent } from '../support/context';

/**
 * Anonymous visitors cost nothing durable (security.md, "Added after the second review"): the
 * sign-in and sign-up forms carry a stateless CSRF token bound to a short-lived cookie, and a
 * session row exists only once someone has signed in.
 */
let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const cookies = (res: request.Response) => ([] as string[]).concat(res.headers['set-cookie'] ?? []);
const sessionCookie = (res: request.Response) => cookies(res).find((c) => c.startsWith('lb.sid='))?.split(';')[0];
const csrfCookie = (res: request.Response) => cookies(res).find((c) => /^(__Host-)?lb\.csrf=/.test(c));

/** Session rows that belong to nobody: what an anonymous page view used to write. */
const anonymousSessionRows = async () => Number((await ctx.knex('sessions').whereRaw("NOT (sess \\? 'userId')").count({ n: '*' }))[0].n);
const sessionRowsOf = async (userId: number) =>
  Number((await ctx.knex('sessions').whereRaw("sess->>'userId' = ?", [String(userId)]).count({ n: '*' }))[0].n);
const sidOf = (cookie: string) => {
  const signed = decodeURIComponent(cookie.slice('lb.sid='.length)); // s:<sid>.<signature>
  return signed.slice(2, signed.lastIndexOf('.'));
};

describe('anonymous visitors', () => {
  it('when anonymous visitors open the sign-in, sign-up, authorize and error pages, then no session row is written and no session cookie is set', async () => {
    const client = await createAlexaClient(ctx);
    const redirect_uri = alexaRedirectUris(client.vendorId)[0];
    const authorize = `/oauth/authorize?${new URLSearchParams({ client_id: client.clientId, redirect_uri, response_type: 'code', state: 'xyz', scope: 'read' })}`;
    const paths = [
      '/login',
      '/signup',
      `/login?return_to=${encodeURIComponent(authorize)}`,
      authorize,
      '/oauth/authorize?client_id=nobody',
      '/no-such-page',
      '/',
      '/recipes',
      '/account/connections',
    ];
    const before = await anonymousSessionRows();
    for (let i = 0; i < 5; i++) {
      const agent = webAgent(ctx.app); // a cookie-keeping browser: its second visit sends the CSRF cookie back
      for (const path of paths) {
        for (const res of [await request(ctx.app).get(path), await agent.get(path)]) {
          expect(res.status).toBeLessThan(500);
          expect(sessionCookie(res)).toBeUndefined();
        }
      }
    }
    expect(await anonymousSessionRows()).toBe(before);
  });

  it('when the sign-in page is served, then its CSRF cookie is HttpOnly, SameSite=Lax, for the whole site and short-lived', async () => {
    const res = await request(ctx.app).get('/login');
    const cookie = csrfCookie(res)!;
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).not.toMatch(/; Domain=/);
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(2 * 3600);
    // The form's token is not the cookie's value: a page that leaks its HTML does not leak the cookie.
    expect(cookie).not.toContain(csrfFrom(res.text));
  });

  it('when an error page is served to an anonymous visitor, then it sets no cookie at all', async () => {
    for (const path of ['/no-such-page', '/oauth/authorize?client_id=nobody']) {
      expect(cookies(await request(ctx.app).get(path))).toEqual([]);
    }
  });
});

describe('login CSRF', () => {
  it('when a login with the right password comes with a missing, forged or mismatched token, then 403 and nobody is signed in', async () => {
    const user = await createUser(ctx);
    const victim = webAgent(ctx.app);
    const victimPage = await victim.get('/login');
    const attacker = webAgent(ctx.app);
    const attackerToken = csrfFrom((await attacker.get('/login')).text);
    const attempts: Array<Record<string, string>> = [
      {}, // no token
      { _csrf: '' },
      { _csrf: randomBytes(32).toString('base64url') }, // forged
      { _csrf: attackerToken }, // a real token, bound to someone else's cookie
      { _csrf: `${csrfFrom(victimPage.text)}x` },
    ];
    for (const extra of attempts) {
      const res = await victim.post('/login').type('form').send({ ...extra, email: user.email, password: TEST_PASSWORD });
      expect(res.status).toBe(403);
      expect(sessionCookie(res)).toBeUndefined();
    }
    // A repeated or bracketed token is refused the same way, not a 500.
    const token = csrfFrom(victimPage.text);
    for (const body of [`_csrf=${token}&_csrf=${token}`, `_csrf[]=${token}`, `_csrf[a]=${token}`]) {
      const res = await victim.post('/login').type('form').send(`${body}&email=${encodeURIComponent(user.email)}&password=${encodeURIComponent(TEST_PASSWORD)}`);
      expect(res.status).toBe(403);
    }
    expect(await sessionRowsOf(user.id)).toBe(0);
  });

  it('when the token is posted without its cookie (a cross-site form: SameSite=Lax keeps the cookie back), then 403', async () => {
    const user = await createUser(ctx);
    const page = await request(ctx.app).get('/login');
    const res = await request(ctx.app).post('/login').type('form').send({ _csrf: csrfFrom(page.text), email: user.email, password: TEST_PASSWORD });
    expect(res.status).toBe(403);
    expect(await sessionRowsOf(user.id)).toBe(0);
  });

  it('when the token is posted with a cookie of another visitor, then 403', async () => {
    const user = await createUser(ctx);
    const mine = await request(ctx.app).get('/login');
    const theirs = await request(ctx.app).get('/login');
    const res = await request(ctx.app)
      .post('/login')
      .set('Cookie', csrfCookie(theirs)!.split(';')[0])
      .type('form')
      .send({ _csrf: csrfFrom(mine.text), email: user.email, password: TEST_PASSWORD });
    expect(res.status).toBe(403);
  });

  it('when the CSRF cookie is malformed, then the page still renders with a fresh cookie and a post with it is refused', async () => {
    for (const value of ['', 'x', '%%%', 'a'.repeat(5000), `${randomBytes(32).toString('base64url')}.x`, '""']) {
      const cookie = `lb.csrf=${value}`;
      const page = await request(ctx.app).get('/login').set('Cookie', cookie);
      expect(page.status).toBe(200);
      expect(csrfCookie(page)).toBeDefined();
      const res = await request(ctx.app).post('/login').set('Cookie', cookie).type('form').send({ _csrf: csrfFrom(page.text), email: 'a@b.test', password: 'whatever' });
      expect(res.status).toBe(403);
    }
  });
});

describe('sessions are created at sign-in only', () => {
  it('when a visitor signs in with the page token, then it works and exactly one session row exists for them', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    const res = await signInAs(agent, user.email);
    expect(res.status).toBe(303);
    expect(sessionCookie(res)).toBeDefined();
    expect(await sessionRowsOf(user.id)).toBe(1);
    const home = await agent.get('/');
    expect(home.status).toBe(200);
    expect(await sessionRowsOf(user.id)).toBe(1);
  });

  it('when a visitor signs up with the page token, then they are signed in with exactly one session row', async () => {
    const agent = webAgent(ctx.app);
    const page = await agent.get('/signup');
    expect(sessionCookie(page)).toBeUndefined();
    const email = uniqueEmail('csrf-signup');
    const res = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email, name: 'Grace', password: TEST_PASSWORD });
    expect(res.status).toBe(303);
    const user = (await ctx.services.accounts.findByEmail(email))!;
    expect(await sessionRowsOf(user.id)).toBe(1);
    expect((await agent.get('/')).text).toContain('Grace');
  });

  it('when a sign-up fails validation, then the form comes back with a working token and no session row', async () => {
    const agent = webAgent(ctx.app);
    const before = await anonymousSessionRows();
    const page = await agent.get('/signup');
    const bad = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email: uniqueEmail('again'), password: 'short' });
    expect(bad.status).toBe(400);
    expect(sessionCookie(bad)).toBeUndefined();
    expect(await anonymousSessionRows()).toBe(before);
    const email = uniqueEmail('again');
    const ok = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(bad.text), email, password: TEST_PASSWORD });
    expect(ok.status).toBe(303);
    expect(await anonymousSessionRows()).toBe(before);
  });

  it('when a signed-in form is posted with the anonymous sign-in page token, then 403 (signed-in forms are bound to the session)', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    const loginPage = await agent.get('/login');
    const anonymousToken = csrfFrom(loginPage.text);
    await agent.post('/login').type('form').send({ _csrf: anonymousToken, email: user.email, password: TEST_PASSWORD });
    expect((await agent.post('/logout').type('form').send({ _csrf: anonymousToken })).status).toBe(403);
    expect((await agent.get('/')).status).toBe(200); // still signed in
    const home = await agent.get('/');
    expect((await agent.post('/logout').type('form').send({ _csrf: csrfFrom(home.text) })).status).toBe(303);
    expect(await sessionRowsOf(user.id)).toBe(0);
  });

  it("when a signed-in form's token is replayed with another session, then 403", async () => {
    const user = await createUser(ctx);
    const a = webAgent(ctx.app);
    const b = webAgent(ctx.app);
    await signInAs(a, user.email);
    await signInAs(b, user.email);
    const tokenOfA = csrfFrom((await a.get('/')).text);
    expect((await b.post('/logout').type('form').send({ _csrf: tokenOfA })).status).toBe(403);
    expect((await b.get('/')).status).toBe(200);
  });

  it('when a signed-in user is disabled, then their next request deletes the session row instead of keeping it anonymous', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    const login = await signInAs(agent, user.email);
    const sid = sidOf(sessionCookie(login)!);
    expect(await ctx.knex('sessions').where({ sid }).first()).toBeDefined();
    await ctx.services.accounts.disableUser(user.id);
    const res = await agent.get('/');
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
    expect(await ctx.knex('sessions').where({ sid }).first()).toBeUndefined();
  });

  it('when a signed-out user goes through authorize, sign-in and back, then the consent page comes and one session row exists', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const agent = webAgent(ctx.app);
    const redirect_uri = alexaRedirectUris(client.vendorId)[0];
    const authorize = `/oauth/authorize?${new URLSearchParams({ client_id: client.clientId, redirect_uri, response_type: 'code', state: 'abc', scope: 'read' })}`;
    const first = await agent.get(authorize);
    expect(first.status).toBe(302);
    const res = await signInAs(agent, user.email, TEST_PASSWORD, authorize);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(authorize);
    const consent = await agent.get(authorize);
    expect(consent.status).toBe(200);
    expect(consent.text).toContain('transaction_id');
    expect(await sessionRowsOf(user.id)).toBe(1);
  });
});
