import request from 'supertest';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, WebAgent, webAgent } from '../support/context';
import { linkPath, TestSmtp } from '../support/smtp';

let smtp: TestSmtp;
let ctx: TestContext;
beforeAll(async () => {
  smtp = await TestSmtp.start();
  ctx = createTestContext(smtp.env());
});
afterAll(async () => {
  await ctx.close();
  await smtp.close();
});

async function signedIn(email: string): Promise<WebAgent> {
  const agent = webAgent(ctx.app);
  expect((await signInAs(agent, email)).status).toBe(303);
  return agent;
}

async function post(agent: WebAgent, page: string, action: string, form: Record<string, string>) {
  const csrf = csrfFrom((await agent.get(page)).text);
  return agent.post(action).type('form').send({ _csrf: csrf, ...form });
}

describe('the account page', () => {
  it('when a signed-out visitor opens /account, then they are sent to sign in and back', async () => {
    const res = await request(ctx.app).get('/account');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/login?return_to=%2Faccount');
  });

  it('when a user with a linked app opens /account, then it ties together email, password, deletion and Connected apps', async () => {
    const user = await createUser(ctx);
    await new AlexaSimulator(ctx.app, await createAlexaClient(ctx)).link(user);
    const page = await (await signedIn(user.email)).get('/account');
    expect(page.status).toBe(200);
    for (const s of [user.email, 'href="/account/password"', 'href="/account/email"', 'href="/account/delete"', 'href="/account/connections"', 'Recipe Reader for Alexa']) expect(page.text).toContain(s);
  });
});

describe('change password', () => {
  it('when the current password is wrong, then nothing changes and the form says so', async () => {
    const user = await createUser(ctx);
    const agent = await signedIn(user.email);
    const res = await post(agent, '/account/password', '/account/password', { current_password: 'not it at all', password: 'another good password' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('That is not your current password.');
    expect((await signInAs(webAgent(ctx.app), user.email)).status).toBe(303);
  });

  it('when the current password is right, then the new one works, other sessions are signed out, this one stays, and a notice is mailed', async () => {
    const user = await createUser(ctx);
    const other = await signedIn(user.email);
    const agent = await signedIn(user.email);
    const res = await post(agent, '/account/password', '/account/password', { current_password: TEST_PASSWORD, password: 'another good password' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account?done=password');
    expect((await agent.get('/account?done=password')).text).toContain('Your password is changed');
    expect((await other.get('/')).status).toBe(303);
    expect((await signInAs(webAgent(ctx.app), user.email, TEST_PASSWORD)).status).toBe(400);
    expect((await signInAs(webAgent(ctx.app), user.email, 'another good password')).status).toBe(303);
    await smtp.waitFor(user.email, /password was changed/);
  });

  it('when a reset link was open before the password changed, then it no longer works', async () => {
    const user = await createUser(ctx);
    const anon = webAgent(ctx.app);
    await post(anon, '/forgot-password', '/forgot-password', { email: user.email });
    const link = linkPath(await smtp.waitFor(user.email, /Reset your/), '/reset-password');
    const agent = await signedIn(user.email);
    await post(agent, '/account/password', '/account/password', { current_password: TEST_PASSWORD, password: 'another good password' });
    const page = await webAgent(ctx.app).get(link);
    expect(page.status).toBe(400);
    expect(page.text).toContain('already used');
  });

  it('when the current password is guessed too often, then it is throttled', async () => {
    const user = await createUser(ctx);
    const agent = await signedIn(user.email);
    const statuses = [];
    for (let i = 0; i < 11; i++) statuses.push((await post(agent, '/account/password', '/account/password', { current_password: `guess ${i}`, password: 'another good password' })).status);
    expect(statuses.slice(0, 10).every((s) => s === 400)).toBe(true);
    expect(statuses[10]).toBe(429);
  });
});

describe('change email', () => {
  it('when the user asks for a new address, then it changes only after the new address confirms, and the old one is told', async () => {
    const user = await createUser(ctx);
    const agent = await signedIn(user.email);
    const fresh = uniqueEmail('new');
    const res = await post(agent, '/account/email', '/account/email', { current_password: TEST_PASSWORD, email: fresh });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Check your new address');
    const notice = await smtp.waitFor(user.email, /about to change/);
    expect(notice.text).toContain(fresh);
    const confirm = await smtp.waitFor(fresh, /Confirm your new email/);
    expect((await ctx.services.accounts.findById(user.id))!.email).toBe(user.email); // not yet

    // The link can be opened in any browser; its GET changes nothing.
    const link = linkPath(confirm, '/account/email/confirm');
    const other = webAgent(ctx.app);
    const page = await other.get(link);
    expect(page.status).toBe(200);
    expect((await ctx.services.accounts.findById(user.id))!.email).toBe(user.email);
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    const done = await other.post('/account/email/confirm').type('form').send({ _csrf: csrfFrom(page.text), token });
    expect(done.status).toBe(200);
    expect(done.text).toContain(`From now on you sign in with ${fresh}`);
    const updated = (await ctx.services.accounts.findById(user.id))!;
    expect(updated.email).toBe(fresh);
    expect(updated.emailVerifiedAt).not.toBeNull();
    expect((await signInAs(webAgent(ctx.app), fresh)).status).toBe(303);
    expect((await signInAs(webAgent(ctx.app), user.email)).status).toBe(400);
    // Spent.
    expect((await webAgent(ctx.app).get(link)).status).toBe(400);
  });

  it('when the new address belongs to another account (in any case), then the answer is the same, that owner is told, and nothing changes', async () => {
    const owner = await createUser(ctx);
    const user = await createUser(ctx);
    const agent = await signedIn(user.email);
    const res = await post(agent, '/account/email', '/account/email', { current_password: TEST_PASSWORD, email: owner.email.toUpperCase() });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Check your new address');
    await smtp.waitFor(owner.email, /Someone tried to use your address/);
    await ctx.services.mail.idle();
    expect(smtp.to(owner.email).some((m) => /Confirm your new email/.test(m.subject))).toBe(false);
    expect((await ctx.services.accounts.findById(user.id))!.email).toBe(user.email);
  });

  it('when the address was taken between the request and the confirmation, then the link says so and changes nothing', async () => {
    const user = await createUser(ctx);
    const agent = await signedIn(user.email);
    const fresh = uniqueEmail('race');
    await post(agent, '/account/email', '/account/email', { current_password: TEST_PASSWORD, email: fresh });
    const link = linkPath(await smtp.waitFor(fresh, /Confirm your new email/), '/account/email/confirm');
    await createUser(ctx, { email: fresh.toUpperCase() });
    const page = await agent.get(link);
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    const res = await agent.post('/account/email/confirm').type('form').send({ _csrf: csrfFrom(page.text), token });
    expect(res.status).toBe(400);
    expect(res.text).toContain('belongs to another account');
    expect((await ctx.services.accounts.findById(user.id))!.email).toBe(user.email);
  });

  it('when the password is wrong or the address is the current one, then the form says so', async () => {
    const user = await createUser(ctx);
    const agent = await signedIn(user.email);
    const wrong = await post(agent, '/account/email', '/account/email', { current_password: 'nope nope', email: uniqueEmail() });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('That is not your current password.');
    const same = await post(agent, '/account/email', '/account/email', { current_password: TEST_PASSWORD, email: user.email.toUpperCase() });
    expect(same.status).toBe(400);
    expect(same.text).toContain('already your address');
    const arr = await agent.post('/account/email').type('form').send(`_csrf=${csrfFrom((await agent.get('/account/email')).text)}&email=a@b.c&email=c@d.e&current_password=x`);
    expect(arr.status).toBe(400);
    expect((await agent.post('/account/email').type('form').send({ email: 'x@y.example', current_password: TEST_PASSWORD })).status).toBe(403);
  });
});
