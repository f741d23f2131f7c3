import bcrypt from 'bcrypt';
import request from 'supertest';
import { sha256 } from '../../src/lib/crypto';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, WebAgent, webAgent } from '../support/context';
import { linkPath, TestSmtp } from '../support/smtp';

let smtp: TestSmtp;
let ctx: TestContext;
beforeAll(async () => {
  smtp = await TestSmtp.start();
  ctx = createTestContext({ ...smtp.env(), PASSWORD_RESET_MAX_PER_EMAIL: '3' });
});
afterAll(async () => {
  await ctx.close();
  await smtp.close();
});

const NEW_PASSWORD = 'a brand new password 42';

async function askForReset(agent: WebAgent, email: string, returnTo?: string) {
  const page = await agent.get(returnTo ? `/forgot-password?return_to=${encodeURIComponent(returnTo)}` : '/forgot-password');
  expect(page.status).toBe(200);
  return agent.post('/forgot-password').type('form').send({ _csrf: csrfFrom(page.text), email, ...(returnTo ? { return_to: returnTo } : {}) });
}

async function resetLink(email: string, after = 0): Promise<string> {
  const mail = await smtp.waitFor(email, /Reset your Linkbridge password/, { after });
  return linkPath(mail, '/reset-password');
}

async function submitNewPassword(agent: WebAgent, link: string, password = NEW_PASSWORD) {
  const form = await agent.get(link);
  expect(form.status).toBe(200);
  const token = new URL(link, 'http://x').searchParams.get('token')!;
  return agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), token, password });
}

describe('forgot password', () => {
  it('when the login page is opened from an OAuth request, then its "Forgot your password?" link keeps that request', async () => {
    const returnTo = '/oauth/authorize?client_id=abc&state=x%2By';
    const page = await request(ctx.app).get(`/login?return_to=${encodeURIComponent(returnTo)}`);
    expect(page.text).toContain(`href="/forgot-password?return_to=${encodeURIComponent(returnTo)}"`);
  });

  it('when the address has an account or not, then the answer is the same page, and only the account gets a mail', async () => {
    const user = await createUser(ctx);
    const nobody = uniqueEmail('nobody');
    const known = await askForReset(webAgent(ctx.app), user.email);
    const unknown = await askForReset(webAgent(ctx.app), nobody);
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    const strip = (html: string, email: string) => html.replace(email, 'EMAIL').replace(/name="_csrf" value="[^"]+"/g, '');
    expect(strip(known.text, user.email)).toBe(strip(unknown.text, nobody));
    const mail = await smtp.waitFor(user.email, /Reset your Linkbridge password/);
    expect(mail.text).toContain('30 minutes');
    expect(mail.html).toContain('Choose a new password');
    await ctx.services.mail.idle();
    expect(smtp.to(nobody)).toEqual([]);
    // Only the hash of the token is stored.
    const token = new URL(mail.links[0]).searchParams.get('token')!;
    expect(token).toMatch(/^lb_pr_[A-Za-z0-9_-]{43}$/);
    const row = await ctx.knex('account_tokens').where({ token_hash: sha256(token) }).first();
    expect(row).toBeDefined();
    expect(JSON.stringify(await ctx.knex('account_tokens').where({ user_id: user.id }))).not.toContain(token);
  });

  it('when the user resets, then the new password works, the old one not, and the user is signed in', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await askForReset(agent, user.email);
    const res = await submitNewPassword(agent, await resetLink(user.email));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/password-reset-done?return_to=%2F');
    const done = await agent.get(res.headers.location);
    expect(done.status).toBe(200);
    expect(done.text).toContain('signed out on every other device');
    expect((await signInAs(webAgent(ctx.app), user.email, TEST_PASSWORD)).status).toBe(400);
    expect((await signInAs(webAgent(ctx.app), user.email, NEW_PASSWORD)).status).toBe(303);
    const updated = await ctx.services.accounts.findById(user.id);
    expect(updated!.emailVerifiedAt).not.toBeNull();
  });

  it('when a link is used twice, then the second time gets a clear page with a way to ask again', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await askForReset(agent, user.email, '/recipes');
    const link = await resetLink(user.email);
    const form = await agent.get(link);
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    const first = await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), token, password: NEW_PASSWORD });
    expect(first.status).toBe(303);
    const again = await webAgent(ctx.app).get(link);
    expect(again.status).toBe(400);
    expect(again.text).toContain('already used');
    expect(again.text).toContain(`href="/forgot-password?return_to=%2Frecipes"`);
    // Posting the spent token (with a fresh form) changes nothing.
    const other = webAgent(ctx.app);
    const page = await other.get('/forgot-password');
    const replay = await other.post('/reset-password').type('form').send({ _csrf: csrfFrom(page.text), token, password: 'yet another password' });
    expect(replay.status).toBe(400);
    expect((await signInAs(webAgent(ctx.app), user.email, NEW_PASSWORD)).status).toBe(303);
  });

  it('when the same link is submitted in parallel, then exactly one reset wins', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await askForReset(agent, user.email);
    const link = await resetLink(user.email);
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    const agents = await Promise.all(
      [0, 1, 2].map(async () => {
        const a = webAgent(ctx.app);
        return { a, csrf: csrfFrom((await a.get(link)).text) };
      }),
    );
    const results = await Promise.all(agents.map(({ a, csrf }, i) => a.post('/reset-password').type('form').send({ _csrf: csrf, token, password: `parallel password ${i}` })));
    expect(results.map((r) => r.status).sort()).toEqual([303, 400, 400]);
  });

  it('when the link is older than 30 minutes, then it has expired, says so, and offers a new one', async () => {
    const user = await createUser(ctx);
    await askForReset(webAgent(ctx.app), user.email);
    const link = await resetLink(user.email);
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    await ctx.knex('account_tokens').where({ token_hash: sha256(token) }).update({ expires_at: new Date(Date.now() - 1000) });
    const page = await webAgent(ctx.app).get(link);
    expect(page.status).toBe(400);
    expect(page.text).toContain('This link has expired');
    expect(page.text).toContain('Send me a new link');
    const row = await ctx.knex('account_tokens').where({ token_hash: sha256(token) }).first();
    const created = new Date(row.created_at).getTime();
    expect(created).toBeGreaterThan(Date.now() - 60_000);
  });

  it('when a link is freshly issued, then it expires 30 minutes later', async () => {
    const user = await createUser(ctx);
    await askForReset(webAgent(ctx.app), user.email);
    const token = new URL(await resetLink(user.email), 'http://x').searchParams.get('token')!;
    const row = await ctx.knex('account_tokens').where({ token_hash: sha256(token) }).first();
    expect(new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()).toBeGreaterThan(29.9 * 60_000);
    expect(new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()).toBeLessThanOrEqual(30 * 60_000 + 2000);
  });

  it('when the user resets, then every other session is signed out and the app links stay (the page says so)', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const tokens = await alexa.link(user);
    const elsewhere = webAgent(ctx.app);
    await signInAs(elsewhere, user.email);
    expect((await elsewhere.get('/')).status).toBe(200);

    const agent = webAgent(ctx.app);
    await askForReset(agent, user.email);
    const res = await submitNewPassword(agent, await resetLink(user.email));
    const done = await agent.get(res.headers.location);
    expect(done.text).toContain('Recipe Reader for Alexa');
    expect(done.text).toContain('href="/account/connections"');

    const signedOut = await elsewhere.get('/');
    expect(signedOut.status).toBe(303);
    expect(signedOut.headers.location).toMatch(/^\/login/);
    // Alexa's link keeps working.
    expect((await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(200);
    expect((await alexa.refresh()).status).toBe(200);
  });

  it('when an imported bcrypt user with a password over 72 bytes resets, then the hash becomes argon2id and that password signs in', async () => {
    const email = uniqueEmail('bcrypt');
    const long = 'ü'.repeat(40) + ' and more'; // 89 bytes in UTF-8
    await ctx.services.auth.importUsers([{ email, password_hash: await bcrypt.hash(long, 10) }]);
    expect((await signInAs(webAgent(ctx.app), email, long)).status).toBe(400);
    const agent = webAgent(ctx.app);
    await askForReset(agent, email);
    expect((await submitNewPassword(agent, await resetLink(email), long)).status).toBe(303);
    expect((await ctx.services.accounts.findByEmail(email))!.passwordHash).toMatch(/^\$argon2id\$/);
    expect((await signInAs(webAgent(ctx.app), email, long)).status).toBe(303);
  });

  it('when the reset started from an Alexa authorization request, then the user continues into that request after the reset', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const agent = webAgent(ctx.app);
    const toLogin = await agent.get(alexa.authorizationPath());
    const returnTo = new URL(toLogin.headers.location, 'http://x').searchParams.get('return_to')!;
    await askForReset(agent, user.email, returnTo);
    // The link is opened in the same browser; the OAuth request travels with the link, not the URL.
    const link = await resetLink(user.email);
    expect(link).not.toContain('oauth');
    const res = await submitNewPassword(agent, link);
    const done = await agent.get(res.headers.location);
    expect(done.text).toContain('Continue connecting');
    const continueTo = /href="([^"]+)">Continue connecting/.exec(done.text)![1].replace(/&amp;/g, '&');
    expect(continueTo).toBe(returnTo);
    const consent = await agent.get(continueTo);
    expect(consent.status).toBe(200);
    expect(consent.text).toContain('Connect Recipe Reader for Alexa');
  });

  it('when one address asks too often, then it is throttled (429) whether or not it has an account', async () => {
    for (const email of [(await createUser(ctx)).email, uniqueEmail('ghost')]) {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await askForReset(webAgent(ctx.app), email)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    }
  });

  it('when one client address asks too often, then it is throttled (429) across different emails', async () => {
    const strict = createTestContext({ ...smtp.env(), PASSWORD_RESET_MAX_PER_ADDRESS: '2', TRUST_PROXY: 'loopback' });
    try {
      const address = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        const agent = webAgent(strict.app);
        const page = await agent.get('/forgot-password');
        statuses.push((await agent.post('/forgot-password').set('X-Forwarded-For', address).type('form').send({ _csrf: csrfFrom(page.text), email: uniqueEmail('ip') })).status);
      }
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await strict.close();
    }
  });

  it('when the inputs are hostile (arrays, garbage tokens, a bad address, no CSRF), then the answers are 4xx pages, never 500', async () => {
    const agent = webAgent(ctx.app);
    const page = await agent.get('/forgot-password');
    const csrf = csrfFrom(page.text);
    expect((await agent.post('/forgot-password').type('form').send(`_csrf=${csrf}&email=a@b.c&email=d@e.f`)).status).toBe(400);
    expect((await agent.post('/forgot-password').type('form').send({ _csrf: csrf, email: 'not an address' })).status).toBe(400);
    expect((await agent.post('/forgot-password').type('form').send({ email: 'a@b.example' })).status).toBe(403);
    expect((await agent.get('/reset-password')).status).toBe(400);
    expect((await agent.get('/reset-password?token=lb_pr_x')).status).toBe(400);
    expect((await agent.get(`/reset-password?token=lb_pr_${'A'.repeat(43)}`)).status).toBe(400);
    expect((await agent.get('/reset-password?token=a&token=b')).status).toBe(400);
    expect((await agent.post('/reset-password').type('form').send(`_csrf=${csrf}&token=a&token=b&password=x`)).status).toBe(400);
    expect((await agent.post('/reset-password').type('form').send({ _csrf: csrf, token: `lb_pr_${'A'.repeat(43)}`, password: NEW_PASSWORD })).status).toBe(400);
  });

  it('when the new password is too short, then the form says so and the link still works', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await askForReset(agent, user.email);
    const link = await resetLink(user.email);
    const short = await submitNewPassword(agent, link, 'short');
    expect(short.status).toBe(400);
    expect(short.text).toContain('at least 8 characters');
    expect((await submitNewPassword(agent, link)).status).toBe(303);
  });
});
