import bcrypt from 'bcrypt';
import request from 'supertest';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, webAgent } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const sessionCookie = (res: request.Response) =>
  ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('lb.sid='))?.split(';')[0];

describe('sign-up', () => {
  it('when a visitor signs up, then the account exists and they are signed in', async () => {
    const agent = webAgent(ctx.app);
    const page = await agent.get('/signup');
    const email = uniqueEmail('signup');
    const res = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email, name: 'Ada', password: TEST_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    const home = await agent.get('/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('Ada');
    const user = await ctx.services.accounts.findByEmail(email);
    expect(user?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('when the email differs only in case from an existing one, then sign-up is refused on the page', async () => {
    const email = uniqueEmail('case');
    await createUser(ctx, { email });
    const agent = webAgent(ctx.app);
    const page = await agent.get('/signup');
    const res = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email: email.toUpperCase(), password: TEST_PASSWORD });
    expect(res.status).toBe(400);
    expect(res.text).toContain('already exists');
  });

  it('when the password is too short, then the page says so and nothing is created', async () => {
    const agent = webAgent(ctx.app);
    const page = await agent.get('/signup');
    const email = uniqueEmail('short');
    const res = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email, password: 'short' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('at least 8 characters');
    expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
  });
});

describe('login', () => {
  it('when the password is right, then the user is signed in, and a session that already existed is rotated', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    const page = await agent.get('/login');
    expect(sessionCookie(page)).toBeUndefined(); // an anonymous page stores no session
    const first = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), email: user.email, password: TEST_PASSWORD });
    expect(first.status).toBe(303);
    const before = sessionCookie(first);
    expect(before).toBeDefined();
    // Signing in again over that session (as over one an attacker planted) gets a new id.
    const home = await agent.get('/');
    const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(home.text), email: user.email, password: TEST_PASSWORD });
    expect(res.status).toBe(303);
    const after = sessionCookie(res);
    expect(after).toBeDefined();
    expect(after).not.toBe(before); // no session fixation
    // The pre-login session id is worthless now.
    const stale = await request(ctx.app).get('/').set('Cookie', before!);
    expect(stale.status).toBe(303);
    expect(stale.headers.location).toMatch(/^\/login/);
  });

  it('when the email is typed in another case, then login still works', async () => {
    const user = await createUser(ctx);
    const res = await signInAs(webAgent(ctx.app), user.email.toUpperCase());
    expect(res.status).toBe(303);
  });

  it('when the password is wrong or the email unknown, then both get the same message on the re-rendered form (400, no HTTP challenge)', async () => {
    const user = await createUser(ctx);
    const wrong = await signInAs(webAgent(ctx.app), user.email, 'not the password');
    const unknown = await signInAs(webAgent(ctx.app), uniqueEmail('nobody'), 'not the password');
    expect(wrong.status).toBe(400);
    expect(unknown.status).toBe(400);
    const message = (html: string) => /<div class="alert" role="alert" id="form-error">([^<]*)<\/div>/.exec(html)?.[1];
    expect(message(wrong.text)).toBe('Incorrect email or password.');
    expect(message(unknown.text)).toBe(message(wrong.text));
    expect(wrong.text).not.toMatch(/<script/i);
  });

  it('when the email is unknown, then a dummy argon2id verify still runs (similar work to a wrong password)', async () => {
    const dummy = jest.spyOn(ctx.services.hasher, 'verifyDummy');
    const verify = jest.spyOn(ctx.services.hasher, 'verify');
    try {
      await signInAs(webAgent(ctx.app), uniqueEmail('ghost'), 'some password');
      expect(dummy).toHaveBeenCalledTimes(1);
      expect(verify).not.toHaveBeenCalled();
      const user = await createUser(ctx);
      await signInAs(webAgent(ctx.app), user.email, 'wrong password');
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      dummy.mockRestore();
      verify.mockRestore();
    }
  });

  it('when the CSRF token is missing, then the login is refused with 403', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await agent.get('/login');
    const res = await agent.post('/login').type('form').send({ email: user.email, password: TEST_PASSWORD });
    expect(res.status).toBe(403);
    expect(res.text).not.toContain(user.email);
  });

  it('when fields are sent as arrays or huge strings, then the answer is a 4xx page, not a 500', async () => {
    const agent = webAgent(ctx.app);
    const page = await agent.get('/login');
    const csrf = csrfFrom(page.text);
    const arr = await agent.post('/login').type('form').send(`_csrf=${csrf}&email=a@b.c&email=d@e.f&password=x&password=y`);
    expect(arr.status).toBe(400);
    const huge = await agent.post('/login').type('form').send({ _csrf: csrf, email: 'x'.repeat(40000), password: 'y' });
    expect(huge.status).toBe(413);
  });

  it('when the user is disabled, then login fails with the same message as a wrong password', async () => {
    const user = await createUser(ctx);
    await ctx.services.accounts.disableUser(user.id);
    const res = await signInAs(webAgent(ctx.app), user.email);
    expect(res.status).toBe(400);
    expect(res.text).toContain('Incorrect email or password.');
  });

  it('when the login was started by an OAuth request, then the user returns to it after signing in', async () => {
    const user = await createUser(ctx);
    const returnTo = '/oauth/authorize?client_id=abc&state=a%3Db%2Bc%2Fd';
    const agent = webAgent(ctx.app);
    const page = await agent.get(`/login?return_to=${encodeURIComponent(returnTo)}`);
    expect(page.text).toContain('not your Amazon account');
    const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), email: user.email, password: TEST_PASSWORD, return_to: returnTo });
    expect(res.headers.location).toBe(returnTo);
  });

  it('when return_to points to another site, then the user lands on the home page instead', async () => {
    const user = await createUser(ctx);
    for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const res = await signInAs(webAgent(ctx.app), user.email, TEST_PASSWORD, evil);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/');
    }
  });
});

describe('logout', () => {
  it('when the user logs out, then the session is destroyed and the old cookie no longer works', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    const login = await signInAs(agent, user.email);
    const cookie = sessionCookie(login)!;
    const home = await agent.get('/');
    const res = await agent.post('/logout').type('form').send({ _csrf: csrfFrom(home.text) });
    expect(res.status).toBe(303);
    const reuse = await request(ctx.app).get('/').set('Cookie', cookie);
    expect(reuse.status).toBe(303);
    expect(reuse.headers.location).toMatch(/^\/login/);
  });

  it('when logout is posted without the CSRF token, then the user stays signed in', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    const res = await agent.post('/logout').type('form').send({});
    expect(res.status).toBe(403);
    expect((await agent.get('/')).status).toBe(200);
  });
});

describe('login throttling', () => {
  it('when an account gets too many attempts, then further attempts are refused even with the right password, across processes', async () => {
    const a = createTestContext({ LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3' });
    const b = createTestContext({ LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3' });
    try {
      const user = await createUser(a);
      expect((await signInAs(webAgent(a.app), user.email, 'wrong-1')).status).toBe(400);
      expect((await signInAs(webAgent(b.app), user.email, 'wrong-2')).status).toBe(400);
      expect((await signInAs(webAgent(a.app), user.email, 'wrong-3')).status).toBe(400);
      const blocked = await signInAs(webAgent(b.app), user.email, TEST_PASSWORD);
      expect(blocked.status).toBe(429);
      expect(blocked.headers['retry-after']).toBeDefined();
      expect(blocked.text).toContain('Too many sign-in attempts');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('when X-Forwarded-For is sent without a trusted proxy, then it cannot dodge the per-address limit', async () => {
    const c = createTestContext({ LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '2', TRUST_PROXY_HOPS: '0' });
    try {
      const tag = `xff-${Date.now()}`;
      // Each attempt claims another address; the server sees the socket address only.
      const statuses: number[] = [];
      const agent = webAgent(c.app);
      for (let i = 0; i < 3; i++) {
        const page = await agent.get('/login');
        const res = await agent
          .post('/login')
          .set('X-Forwarded-For', `10.0.${i}.1`)
          .type('form')
          .send({ _csrf: csrfFrom(page.text), email: uniqueEmail(tag), password: 'whatever1' });
        statuses.push(res.status);
      }
      // The loopback address already has attempts from other tests in this run, so at least the
      // last attempt must be refused.
      expect(statuses[2]).toBe(429);
    } finally {
      await c.close();
      await ctx.knex('login_throttles').where('key', 'like', 'ip:%').delete();
    }
  });
});

describe('imported bcrypt users', () => {
  it('when an imported user logs in with the old password, then it works and the hash becomes argon2id', async () => {
    const email = uniqueEmail('import');
    const hash = await bcrypt.hash('old devise password', 10);
    await ctx.services.auth.importUsers([{ email, name: 'Imported', password_hash: hash }]);
    const res = await signInAs(webAgent(ctx.app), email, 'old devise password');
    expect(res.status).toBe(303);
    const user = await ctx.services.accounts.findByEmail(email);
    expect(user?.passwordHash).toMatch(/^\$argon2id\$/);
    // and the old password still works against the new hash
    expect((await signInAs(webAgent(ctx.app), email, 'old devise password')).status).toBe(303);
  });

  it('when a bcrypt password is longer than 72 bytes, then its first 72 bytes alone do not log in', async () => {
    const email = uniqueEmail('long');
    const first72 = 'p'.repeat(72);
    const hash = await bcrypt.hash(first72, 10);
    await ctx.services.auth.importUsers([{ email, password_hash: hash }]);
    // bcrypt itself would accept this: it ignores everything after byte 72.
    expect(await bcrypt.compare(`${first72}-and-more`, hash)).toBe(true);
    expect((await signInAs(webAgent(ctx.app), email, `${first72}-and-more`)).status).toBe(400);
    expect((await signInAs(webAgent(ctx.app), email, first72)).status).toBe(303);
  });

  it('when one record of an import is bad, then nothing is imported', async () => {
    const good = uniqueEmail('good');
    await expect(
      ctx.services.auth.importUsers([
        { email: good, password_hash: await bcrypt.hash('x', 10) },
        { email: 'not-an-email', password_hash: await bcrypt.hash('x', 10) },
      ]),
    ).rejects.toThrow(/Nothing was imported/);
    expect(await ctx.services.accounts.findByEmail(good)).toBeUndefined();
  });

  it('when a bcrypt hash has a cost under 10, then the import refuses it', async () => {
    await expect(ctx.services.auth.importUsers([{ email: uniqueEmail(), password_hash: await bcrypt.hash('x', 4) }])).rejects.toThrow(/cost 10/);
  });
});
