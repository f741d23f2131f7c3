import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, WebAgent, webAgent } from '../support/context';
import { linkPath, TestSmtp } from '../support/smtp';

let smtp: TestSmtp;
let ctx: TestContext;
beforeAll(async () => {
  smtp = await TestSmtp.start();
  ctx = createTestContext({ ...smtp.env(), REQUIRE_EMAIL_VERIFICATION: 'true' });
});
afterAll(async () => {
  await ctx.close();
  await smtp.close();
});

async function signUp(agent: WebAgent, email: string, returnTo?: string) {
  const page = await agent.get(returnTo ? `/signup?return_to=${encodeURIComponent(returnTo)}` : '/signup');
  return agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email, name: 'New Cook', password: TEST_PASSWORD, ...(returnTo ? { return_to: returnTo } : {}) });
}

async function confirm(agent: WebAgent, link: string) {
  const page = await agent.get(link);
  expect(page.status).toBe(200);
  const token = new URL(link, 'http://x').searchParams.get('token')!;
  return agent.post('/verify-email').type('form').send({ _csrf: csrfFrom(page.text), token });
}

describe('email verification at sign-up (REQUIRE_EMAIL_VERIFICATION=true)', () => {
  it('when a new and a taken address sign up, then both get the same answer; the new one a link, the taken one a "someone tried" mail', async () => {
    const existing = await createUser(ctx);
    const fresh = uniqueEmail('fresh');
    const a = await signUp(webAgent(ctx.app), fresh);
    const b = await signUp(webAgent(ctx.app), existing.email);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const strip = (html: string, email: string) => html.replace(email, 'EMAIL').replace(/name="_csrf" value="[^"]+"/g, '');
    expect(strip(a.text, fresh)).toBe(strip(b.text, existing.email));
    expect(a.headers['set-cookie'] ?? []).not.toEqual(expect.arrayContaining([expect.stringMatching(/^lb\.sid=/)]));
    await smtp.waitFor(fresh, /Confirm your email/);
    const tried = await smtp.waitFor(existing.email, /Someone tried to sign up/);
    expect(tried.links.some((l) => new URL(l).pathname === '/forgot-password')).toBe(true);
    expect((await ctx.services.accounts.findByEmail(fresh))!.emailVerifiedAt).toBeNull();
  });

  it('when an unverified account reaches consent, then it cannot complete it until the address is confirmed, and then continues', async () => {
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const email = uniqueEmail('unverified');
    const agent = webAgent(ctx.app);
    const toLogin = await agent.get(alexa.authorizationPath());
    const returnTo = new URL(toLogin.headers.location, 'http://x').searchParams.get('return_to')!;
    await signUp(agent, email, returnTo);
    await smtp.waitFor(email, /Confirm your email/);
    expect((await signInAs(agent, email, TEST_PASSWORD, returnTo)).status).toBe(303);

    const blocked = await agent.get(returnTo);
    expect(blocked.status).toBe(403);
    expect(blocked.text).toContain('Confirm your email first');
    expect(blocked.text).not.toContain('transaction_id');
    // A decision posted anyway is refused too.
    const post = await agent.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(blocked.text), transaction_id: 'lb_tx_x', decision: 'allow' });
    expect(post.status).toBe(403);

    // Ask for a new link from that page: it brings the user back to the same request.
    const sent = await agent.post('/account/verify-email').type('form').send({ _csrf: csrfFrom(blocked.text), return_to: returnTo });
    expect(sent.status).toBe(200);
    const mails = smtp.to(email).length;
    const mail = await smtp.waitFor(email, /Confirm your email/, { after: mails - 1 });
    const done = await confirm(agent, linkPath(mail, '/verify-email'));
    expect(done.status).toBe(200);
    expect(done.text).toContain('Email confirmed');
    const continueTo = /href="([^"]+)">Continue</.exec(done.text)![1].replace(/&amp;/g, '&');
    expect(continueTo).toBe(returnTo);
    const consent = await agent.get(continueTo);
    expect(consent.status).toBe(200);
    expect(consent.text).toContain('transaction_id');
  });

  it('when the confirmation link is used twice or is garbage, then the page says so with a way to ask again', async () => {
    const email = uniqueEmail('twice');
    await signUp(webAgent(ctx.app), email);
    const link = linkPath(await smtp.waitFor(email, /Confirm your email/), '/verify-email');
    expect((await confirm(webAgent(ctx.app), link)).status).toBe(200);
    const again = await webAgent(ctx.app).get(link);
    expect(again.status).toBe(400);
    expect(again.text).toContain('already used');
    expect(again.text).toContain('Sign in to send a new link');
    expect((await webAgent(ctx.app).get('/verify-email?token=nonsense')).status).toBe(400);
  });

  it('when someone squatted an address, then its owner takes it over by resetting the password, which also proves the address', async () => {
    const email = uniqueEmail('squat');
    await signUp(webAgent(ctx.app), email); // by a stranger, who never confirms
    const agent = webAgent(ctx.app);
    const page = await agent.get('/forgot-password');
    await agent.post('/forgot-password').type('form').send({ _csrf: csrfFrom(page.text), email });
    const link = linkPath(await smtp.waitFor(email, /Reset your/), '/reset-password');
    const form = await agent.get(link);
    const res = await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), token: new URL(link, 'http://x').searchParams.get('token'), password: 'the real owner password' });
    expect(res.status).toBe(303);
    expect((await ctx.services.accounts.findByEmail(email))!.emailVerifiedAt).not.toBeNull();
  });

  it('when an operator created the account (CLI), then it counts as confirmed and can consent', async () => {
    const user = await createUser(ctx);
    expect(user.emailVerifiedAt).not.toBeNull();
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    await expect(alexa.link(user)).resolves.toHaveProperty('access_token');
  });
});

describe('without REQUIRE_EMAIL_VERIFICATION', () => {
  it('when an unverified account consents, then it may', async () => {
    const relaxed = createTestContext(smtp.env());
    try {
      const email = uniqueEmail('relaxed');
      const agent = webAgent(relaxed.app);
      const page = await agent.get('/signup');
      expect((await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email, password: TEST_PASSWORD })).status).toBe(303);
      expect((await relaxed.services.accounts.findByEmail(email))!.emailVerifiedAt).toBeNull();
      const alexa = new AlexaSimulator(relaxed.app, await createAlexaClient(relaxed));
      await expect(alexa.link({ email }, agent)).resolves.toHaveProperty('access_token');
    } finally {
      await relaxed.close();
    }
  });
});
