import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { browserFixture, describeInBrowser, NO_PROBLEMS } from '../support/browser';
import { createUser, TEST_PASSWORD } from '../support/context';
import { TestSmtp } from '../support/smtp';

/**
 * A user who forgot their password, at phone size, as the Alexa app opens our authorization URL:
 * "Forgot your password?" on the sign-in page, the mail (received by a real SMTP server on
 * loopback), its link, a new password, and on into consent, ending with the code at Alexa's
 * redirect URL.
 */
jest.setTimeout(90_000);

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await TestSmtp.start();
});
afterAll(() => smtp?.close());

describeInBrowser('forgot password in a real browser', () => {
  const fixture = browserFixture(() => smtp.env());

  it('when a user who forgot their password links Alexa on a phone, then they reset it by mail and Alexa receives a working code', async () => {
    const user = await createUser(fixture.ctx, { name: 'Forgetful Cook' });
    const alexa = new AlexaSimulator(fixture.ctx.app, await createAlexaClient(fixture.ctx), { region: 'EU' });
    const session = await fixture.open('phone');
    const { page } = session;

    await page.goto(alexa.authorizationPath());
    await page.waitForURL((u) => u.pathname === '/login');
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.waitForURL((u) => u.pathname === '/forgot-password');
    expect(await session.screenshotAndAudit('forgot-password')).toEqual([]);
    await page.getByLabel('Email').fill(user.email);
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Check your email');
    expect(await session.screenshotAndAudit('forgot-password-sent')).toEqual([]);

    const mail = await smtp.waitFor(user.email, /Reset your Linkbridge password/);
    const link = new URL(mail.links.find((l) => new URL(l).pathname === '/reset-password')!);
    await page.goto(`${link.pathname}${link.search}`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Choose a new password');
    expect(await session.screenshotAndAudit('reset-password')).toEqual([]);
    await page.getByLabel('New password').fill(`${TEST_PASSWORD} again`);
    await page.getByRole('button', { name: 'Save and sign in' }).click();

    await page.waitForURL((u) => u.pathname === '/password-reset-done');
    await expect(page.locator('main').textContent()).resolves.toContain('signed out on every other device');
    expect(await session.screenshotAndAudit('reset-done')).toEqual([]);
    await page.getByRole('link', { name: 'Continue connecting' }).click();

    await page.waitForURL((u) => u.pathname === '/oauth/authorize');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Connect Recipe Reader for Alexa');
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(alexa.redirectUri));
    const location = new URL(page.url());
    expect(location.searchParams.get('state')).toBe(alexa.state);
    const code = location.searchParams.get('code');
    expect(code).toMatch(/^lb_ac_/);
    expect((await alexa.exchange(code!)).status).toBe(200);
    expect(session.problems()).toEqual(NO_PROBLEMS);
  });

  it('when a signed-in user opens the account pages on a phone, then each passes the page audit', async () => {
    const user = await createUser(fixture.ctx, { name: 'Audited Cook' });
    const session = await fixture.open('phone');
    await session.page.goto('/login');
    await session.signIn(user.email, TEST_PASSWORD);
    await session.page.waitForURL((u) => u.pathname === '/');
    for (const [path, name] of [
      ['/account', 'account'],
      ['/account/password', 'account-password'],
      ['/account/email', 'account-email'],
      ['/account/delete', 'account-delete'],
    ] as const) {
      await session.page.goto(path);
      expect(await session.screenshotAndAudit(name)).toEqual([]);
    }
    expect(session.problems()).toEqual(NO_PROBLEMS);
  });
});
