import { randomBytes } from 'node:crypto';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, WebAgent, webAgent } from '../support/context';

/** A client address of its own (IPv6 documentation prefix, RFC 3849), as one trusted proxy reports it. */
const freshAddress = () => `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::${randomBytes(2).toString('hex')}`;

async function signUpFrom(agent: WebAgent, forwardedFor: string, body: Record<string, string>) {
  const page = await agent.get('/signup');
  return agent.post('/signup').set('X-Forwarded-For', forwardedFor).type('form').send({ _csrf: csrfFrom(page.text), password: TEST_PASSWORD, ...body });
}

describe('sign-up throttling', () => {
  let ctx: TestContext;
  beforeAll(() => {
    // Each test sends its own client address through one trusted hop (the last X-Forwarded-For
    // entry), so other suites' sign-ups from 127.0.0.1 never share its counter.
    ctx = createTestContext({ TRUST_PROXY: 'loopback', SIGNUP_MAX_ATTEMPTS_PER_ADDRESS: '3', SIGNUP_MAX_ATTEMPTS_PER_EMAIL: '2' });
  });
  afterAll(() => ctx.close());

  it('when one address makes too many sign-up attempts, then the next is refused with 429 and Retry-After before any password is hashed, and other addresses are unaffected', async () => {
    const address = freshAddress();
    for (let i = 0; i < 3; i++) expect((await signUpFrom(webAgent(ctx.app), address, { email: uniqueEmail('flood') })).status).toBe(303);
    const hash = jest.spyOn(ctx.services.hasher, 'hash');
    try {
      const email = uniqueEmail('flood');
      const refused = await signUpFrom(webAgent(ctx.app), address, { email });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.text).toContain('Too many sign-up attempts');
      expect(refused.text).toContain('<form method="post" action="/signup"');
      expect(hash).not.toHaveBeenCalled();
      expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
    } finally {
      hash.mockRestore();
    }
    expect((await signUpFrom(webAgent(ctx.app), freshAddress(), { email: uniqueEmail('other') })).status).toBe(303);
  });

  it('when sign-up is used to ask whether an email has an account, then after a few tries per email (from any address, in any spelling) it stops answering', async () => {
    const existing = await createUser(ctx);
    const ask = (spelling: string) => signUpFrom(webAgent(ctx.app), freshAddress(), { email: spelling });
    const first = await ask(existing.email);
    expect(first.status).toBe(400);
    expect(first.text).toContain('already exists');
    expect((await ask(` ${existing.email.toUpperCase()}`)).status).toBe(400);
    const third = await ask(existing.email);
    expect(third.status).toBe(429);
    expect(third.text).not.toContain('already exists');
  });
});

describe('hashing capacity under a sign-up flood', () => {
  it('when concurrent sign-ups fill the hashing slots and queue, then a log-in still gets a slot and signs in instead of "busy"', async () => {
    // Slow hashes (t=20, ~10x the default) keep the flood in flight while the log-in runs. Two
    // slots in all and no log-in queue: before sign-ups had their own share, the flood took both.
    const c = createTestContext({ ARGON2_TIME_COST: '20', LOGIN_CONCURRENCY: '2', LOGIN_QUEUE: '0', SIGNUP_QUEUE: '2' });
    try {
      const user = await createUser(c);
      const flood = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const agent = webAgent(c.app);
          const page = await agent.get('/signup');
          return { agent, csrf: csrfFrom(page.text) };
        }),
      );
      const loginAgent = webAgent(c.app);
      const loginPage = await loginAgent.get('/login');

      const signups = flood.map(({ agent, csrf }) => agent.post('/signup').type('form').send({ _csrf: csrf, email: uniqueEmail('flood'), password: TEST_PASSWORD }).then((r) => r)); // .then() sends it now
      await new Promise((r) => setTimeout(r, 100)); // the flood reaches the hasher first
      const login = await loginAgent.post('/login').type('form').send({ _csrf: csrfFrom(loginPage.text), email: user.email, password: TEST_PASSWORD });
      const statuses = (await Promise.all(signups)).map((r) => r.status);

      expect(login.status).toBe(303);
      expect(statuses).toContain(503); // the flood did overflow the sign-up share ...
      expect(statuses.filter((s) => s === 303).length).toBeGreaterThanOrEqual(1); // ... which kept working
      expect(statuses.every((s) => s === 303 || s === 503)).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('when only one hashing slot exists and sign-ups hold it, then a log-in waits first in line rather than being refused', async () => {
    const c = createTestContext({ ARGON2_TIME_COST: '20', LOGIN_CONCURRENCY: '1', LOGIN_QUEUE: '4', SIGNUP_QUEUE: '4' });
    try {
      const user = await createUser(c);
      const flood = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const agent = webAgent(c.app);
          return { agent, csrf: csrfFrom((await agent.get('/signup')).text) };
        }),
      );
      const loginAgent = webAgent(c.app);
      const loginPage = await loginAgent.get('/login');
      const finished: string[] = [];
      const signups = flood.map(({ agent, csrf }) =>
        agent.post('/signup').type('form').send({ _csrf: csrf, email: uniqueEmail('queue'), password: TEST_PASSWORD }).then((r) => (finished.push('signup'), r)),
      );
      await new Promise((r) => setTimeout(r, 100));
      const login = await loginAgent.post('/login').type('form').send({ _csrf: csrfFrom(loginPage.text), email: user.email, password: TEST_PASSWORD }).then((r) => (finished.push('login'), r));
      await Promise.all(signups);
      expect(login.status).toBe(303);
      // The log-in overtook the queued sign-ups: at most the one holding the slot finished before it
      // (plus one that may have started before the log-in arrived).
      expect(finished.indexOf('login')).toBeLessThanOrEqual(2);
    } finally {
      await c.close();
    }
  });
});
