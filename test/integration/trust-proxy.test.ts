import http from 'node:http';
import { randomBytes, randomInt } from 'node:crypto';
import request from 'supertest';
import { createTestContext, createUser, csrfFrom, TEST_PASSWORD, TestContext, uniqueEmail, webAgent } from '../support/context';

/**
 * Forwarded headers only from proxies you name (security.md). The observable effect of req.ip is
 * the per-address login throttle; of req.secure, whether a Secure cookie is set at all.
 *
 * supertest connects over loopback; each test connects from its own 127.x.y.z address (Linux
 * routes all of 127/8 to lo) so its throttle counts are not shared with other tests. "An
 * untrusted peer" is then the loopback client with TRUST_PROXY naming some other address.
 */
const contexts: TestContext[] = [];
const context = (env: Record<string, string>) => {
  const c = createTestContext({ LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '2', ...env });
  contexts.push(c);
  return c;
};
afterAll(async () => {
  for (const c of contexts) await c.close();
});

const uniqueLoopback = () => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
const uniqueRemote = () => `2001:db8::${randomBytes(6).toString('hex').match(/.{4}/g)!.join(':')}`;

/** A browser (cookies kept) whose connections come from the given local address. */
function browserFrom(c: TestContext, address: string) {
  const jar = webAgent(c.app);
  const via = new http.Agent({ localAddress: address });
  return {
    get: (path: string) => jar.get(path).agent(via),
    post: (path: string) => jar.post(path).agent(via),
  };
}

/** One failed sign-in (a fresh account each time, so only the address limit can trip). */
async function failedLogin(client: ReturnType<typeof browserFrom>, headers: Record<string, string> = {}) {
  const page = await client.get('/login');
  const res = await client
    .post('/login')
    .set(headers)
    .type('form')
    .send({ _csrf: csrfFrom(page.text), email: uniqueEmail('proxy'), password: 'not the password' });
  return res.status;
}

describe('X-Forwarded-For', () => {
  it('when the peer is not a configured proxy, then X-Forwarded-For is ignored and the real address is throttled', async () => {
    const c = context({ TRUST_PROXY: '10.0.0.1' });
    const client = browserFrom(c, uniqueLoopback());
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await failedLogin(client, { 'X-Forwarded-For': uniqueRemote() }));
    expect(statuses).toEqual([400, 400, 429]);
  });

  it('when only the old hop count is configured (TRUST_PROXY_HOPS=1 trusted any peer), then the server refuses to start', () => {
    expect(() => createTestContext({ TRUST_PROXY_HOPS: '1' })).toThrow(/TRUST_PROXY_HOPS: no longer supported/);
  });

  it('when no proxy is configured, then X-Forwarded-For is ignored as well', async () => {
    const c = context({});
    const client = browserFrom(c, uniqueLoopback());
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await failedLogin(client, { 'X-Forwarded-For': uniqueRemote() }));
    expect(statuses).toEqual([400, 400, 429]);
  });

  it('when the peer is a trusted proxy (loopback), then each forwarded client address is counted on its own', async () => {
    const c = context({ TRUST_PROXY: 'loopback' });
    const proxy = browserFrom(c, uniqueLoopback());
    const spread = [];
    for (let i = 0; i < 3; i++) spread.push(await failedLogin(proxy, { 'X-Forwarded-For': uniqueRemote() }));
    expect(spread).toEqual([400, 400, 400]);
    const one = uniqueRemote();
    const same = [];
    for (let i = 0; i < 3; i++) same.push(await failedLogin(proxy, { 'X-Forwarded-For': one }));
    expect(same).toEqual([400, 400, 429]);
  });

  it('when a client behind the trusted proxy prepends its own X-Forwarded-For, then the address the proxy appended is counted', async () => {
    const c = context({ TRUST_PROXY: 'loopback' });
    const proxy = browserFrom(c, uniqueLoopback());
    const real = uniqueRemote();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await failedLogin(proxy, { 'X-Forwarded-For': `${uniqueRemote()}, ${real}` }));
    expect(statuses).toEqual([400, 400, 429]);
  });

  it('when the trusted proxy is named by address or CIDR range, then it is honoured and other peers are not', async () => {
    const proxyAddress = uniqueLoopback();
    const c = context({ TRUST_PROXY: `${proxyAddress}, 10.0.0.0/8` });
    const spread = [];
    for (let i = 0; i < 3; i++) spread.push(await failedLogin(browserFrom(c, proxyAddress), { 'X-Forwarded-For': uniqueRemote() }));
    expect(spread).toEqual([400, 400, 400]);
    const stranger = browserFrom(c, uniqueLoopback());
    const spoofed = [];
    for (let i = 0; i < 3; i++) spoofed.push(await failedLogin(stranger, { 'X-Forwarded-For': uniqueRemote() }));
    expect(spoofed).toEqual([400, 400, 429]);
  });

  it('when X-Forwarded-For is garbage, huge or repeated, then the answer is a 4xx page, never a 500', async () => {
    const c = context({ TRUST_PROXY: 'loopback', LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '100000' });
    const proxy = browserFrom(c, uniqueLoopback());
    for (const value of ['not an address', ',,,', '999.1.1.1', `${'1.2.3.4, '.repeat(500)}5.6.7.8`, '::ffff:zz', '[::1]:80', 'unknown']) {
      const status = await failedLogin(proxy, { 'X-Forwarded-For': value });
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
    }
  });
});

describe('X-Forwarded-Proto and Secure cookies', () => {
  const cookies = (res: request.Response) => ([] as string[]).concat(res.headers['set-cookie'] ?? []);

  it('when a trusted proxy says https, then the sign-in cookie is Secure with a __Host- name, and signing in sets a Secure session cookie', async () => {
    const c = context({ COOKIE_SECURE: 'true', TRUST_PROXY: 'loopback' });
    const user = await createUser(c);
    const address = uniqueLoopback();
    const page = await browserFrom(c, address).get('/login').set('X-Forwarded-Proto', 'https');
    const csrfCookie = cookies(page).find((k) => k.startsWith('__Host-lb.csrf='));
    expect(csrfCookie).toMatch(/; Secure/);
    expect(csrfCookie).toMatch(/; Path=\//);
    expect(csrfCookie).not.toMatch(/; Domain=/);
    // superagent's jar does not send Secure cookies over http: hand the cookie over as the browser would over https.
    const res = await request(c.app)
      .post('/login')
      .agent(new http.Agent({ localAddress: address }))
      .set('X-Forwarded-Proto', 'https')
      .set('Cookie', csrfCookie!.split(';')[0])
      .type('form')
      .send({ _csrf: csrfFrom(page.text), email: user.email, password: TEST_PASSWORD });
    expect(res.status).toBe(303);
    expect(cookies(res).find((k) => k.startsWith('lb.sid='))).toMatch(/; Secure/);
  });

  it('when an untrusted peer says https over plain http, then no Secure cookie is set (req.secure follows TRUST_PROXY too)', async () => {
    const c = context({ COOKIE_SECURE: 'true', TRUST_PROXY: '10.0.0.1' });
    const user = await createUser(c);
    const address = uniqueLoopback();
    const page = await browserFrom(c, address).get('/login').set('X-Forwarded-Proto', 'https');
    expect(page.status).toBe(200);
    expect(cookies(page)).toEqual([]);
    // Without its cookie the form cannot be posted, and no session is created.
    const res = await request(c.app).post('/login').agent(new http.Agent({ localAddress: address })).set('X-Forwarded-Proto', 'https').type('form').send({ _csrf: csrfFrom(page.text), email: user.email, password: TEST_PASSWORD });
    expect(res.status).toBe(403);
    expect(cookies(res)).toEqual([]);
  });
});
