import { Express } from 'express';
import request from 'supertest';
import { DEVICE_COOKIE, DeviceCookies } from '../../src/auth/device-cookie';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TEST_SESSION_SECRET, TestContext, webAgent } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext({ LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3' });
});
afterAll(() => ctx.close());

const setCookies = (res: request.Response) => ([] as string[]).concat(res.headers['set-cookie'] ?? []);
const deviceCookieOf = (res: request.Response) => setCookies(res).find((c) => c.startsWith(`${DEVICE_COOKIE}=`));
const deviceValueOf = (res: request.Response) => deviceCookieOf(res)?.split(';')[0].slice(DEVICE_COOKIE.length + 1);

/** A sign-in from a fresh browser that presents exactly this device cookie (or none). */
async function signInPresenting(app: Express, email: string, password: string, device?: string) {
  const page = await request(app).get('/login');
  // The form's own cookies (the anonymous CSRF cookie), and the device cookie under test.
  const form = setCookies(page).map((c) => c.split(';')[0]).join('; ');
  return request(app)
    .post('/login')
    .set('Cookie', device === undefined ? form : `${form}; ${DEVICE_COOKIE}=${device}`)
    .type('form')
    .send({ _csrf: csrfFrom(page.text), email, password });
}

/** A stranger (no device cookie) uses up the account's sign-in limit, and more. */
async function exhaustAccount(email: string) {
  const attacker = webAgent(ctx.app);
  for (let i = 1; i <= 3; i++) expect((await signInAs(attacker, email, `guess ${i}`)).status).toBe(400);
  expect((await signInAs(attacker, email, 'guess 4')).status).toBe(429);
  return attacker;
}

describe('device cookies (OWASP): lock-out is not a weapon', () => {
  it('when a stranger exhausts the account throttle, then the browser that signed in before still signs in, and the stranger stays throttled even with the right password', async () => {
    const user = await createUser(ctx);
    const own = webAgent(ctx.app);
    expect((await signInAs(own, user.email)).status).toBe(303);
    await own.post('/logout').type('form').send({ _csrf: csrfFrom((await own.get('/')).text) });

    const attacker = await exhaustAccount(user.email);

    const again = await signInAs(own, user.email);
    expect(again.status).toBe(303);
    expect((await own.get('/')).text).toContain(user.name);
    // The user's typo from that browser is still a plain failure, not a lock-out.
    await own.post('/logout').type('form').send({ _csrf: csrfFrom((await own.get('/')).text) });
    expect((await signInAs(own, user.email, 'typo')).status).toBe(400);
    expect((await signInAs(own, user.email)).status).toBe(303);

    const blocked = await signInAs(attacker, user.email, TEST_PASSWORD);
    expect(blocked.status).toBe(429);
    expect(blocked.headers['retry-after']).toBeDefined();
    expect((await signInAs(webAgent(ctx.app), user.email, TEST_PASSWORD)).status).toBe(429); // any other new browser too
  });

  it('when a browser with a valid device cookie keeps guessing, then it is throttled under its own key, and the account key is untouched', async () => {
    const user = await createUser(ctx);
    const device = deviceValueOf(await signInPresenting(ctx.app, user.email, TEST_PASSWORD))!;
    expect(device).toBeDefined();
    for (let i = 1; i <= 3; i++) expect((await signInPresenting(ctx.app, user.email, `guess ${i}`, device)).status).toBe(400);
    expect((await signInPresenting(ctx.app, user.email, TEST_PASSWORD, device)).status).toBe(429);
    expect((await signInPresenting(ctx.app, user.email, TEST_PASSWORD)).status).toBe(303);
  });

  it('when the device cookie is forged, altered, expired, garbage or issued for another account, then the attempt counts as an untrusted client', async () => {
    const user = await createUser(ctx);
    const other = await createUser(ctx);
    const genuine = new DeviceCookies(TEST_SESSION_SECRET);
    const valid = genuine.issue(user.id);
    await exhaustAccount(user.email);
    const untrusted = [
      new DeviceCookies('another secret, not the server one, 0123456789').issue(user.id),
      `${valid.slice(0, -2)}${valid.endsWith('AA') ? 'BB' : 'AA'}`,
      valid.replace(`v1.${user.id}.`, `v1.${other.id}.`),
      genuine.issue(user.id, Date.now() - (genuine.ttlSeconds + 60) * 1000),
      deviceValueOf(await signInPresenting(ctx.app, other.email, TEST_PASSWORD))!, // the other account's own cookie
      'v1.1.2.3.4',
      'x'.repeat(4000),
      '%00%ff"\\',
    ];
    for (const device of untrusted) {
      const res = await signInPresenting(ctx.app, user.email, TEST_PASSWORD, device);
      expect(res.status).toBe(429);
    }
    // The harness is right: a genuine cookie for this account does get through.
    expect((await signInPresenting(ctx.app, user.email, TEST_PASSWORD, valid)).status).toBe(303);
  });

  it('when a sign-in succeeds, then the device cookie is HttpOnly, SameSite=Lax, sent only to /login, names no email, and is new each time', async () => {
    const user = await createUser(ctx);
    const first = await signInPresenting(ctx.app, user.email, TEST_PASSWORD);
    const cookie = deviceCookieOf(first)!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\/login(;|$)/);
    expect(cookie).toMatch(/; Max-Age=\d+/);
    expect(decodeURIComponent(cookie)).not.toContain(user.email.split('@')[0]);
    const second = await signInPresenting(ctx.app, user.email, TEST_PASSWORD, deviceValueOf(first));
    expect(deviceValueOf(second)).toBeDefined();
    expect(deviceValueOf(second)).not.toBe(deviceValueOf(first));
    // A failed sign-in hands out nothing.
    expect(deviceCookieOf(await signInPresenting(ctx.app, user.email, 'wrong'))).toBeUndefined();
  });
});
