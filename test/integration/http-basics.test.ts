import { sign } from 'cookie-signature';
import request from 'supertest';
import { createApp } from '../../src/app';
import { createKnex } from '../../src/db/knex';
import { createServices } from '../../src/services';
import { createTestContext, TestContext, testConfig } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

describe('security headers', () => {
  it.each(['/login', '/signup', '/no-such-page'])('when %s is served, then it carries the security headers', async (path) => {
    const res = await request(ctx.app).get(path);
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['content-security-policy']).not.toContain('form-action');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('when a login page is served, then it is not cached and its cookie is HttpOnly and SameSite=Lax', async () => {
    const res = await request(ctx.app).get('/login');
    expect(res.headers['cache-control']).toBe('no-store');
    const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).join(';');
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/);
  });

  it('when cookies are configured secure, then the session cookie is Secure', async () => {
    const c = createTestContext({ COOKIE_SECURE: 'true', TRUST_PROXY: 'loopback' });
    try {
      const res = await request(c.app).get('/login').set('X-Forwarded-Proto', 'https');
      expect(([] as string[]).concat(res.headers['set-cookie'] ?? []).join(';')).toMatch(/Secure/);
    } finally {
      await c.close();
    }
  });

  it('when the stylesheet is requested, then it is served from our own origin', async () => {
    const res = await request(ctx.app).get('/static/style.css');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/css/);
  });
});

describe('health', () => {
  it('when the process is up, then /healthz answers 200', async () => {
    const res = await request(ctx.app).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('when the database answers, then /readyz answers 200', async () => {
    expect((await request(ctx.app).get('/readyz')).status).toBe(200);
  });

  it('when the database cannot be reached, then /readyz answers 503 and pages answer 503 without details', async () => {
    const config = testConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    const knex = createKnex({ url: config.databaseUrl!, poolMax: 1 });
    try {
      const app = createApp({ config, knex, services: createServices(config, knex) });
      const ready = await request(app).get('/readyz');
      expect(ready.status).toBe(503);
      // A signed session cookie makes the session store query the database.
      const cookie = `lb.sid=${encodeURIComponent(`s:${sign('some-session-id', config.sessionSecret!)}`)}`;
      const page = await request(app).get('/').set('Cookie', cookie);
      expect(page.status).toBe(503);
      expect(page.text).toContain('temporarily unavailable');
      expect(page.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1:1|at .*\.js/);
    } finally {
      await knex.destroy();
    }
  });
});

describe('errors', () => {
  it('when a page does not exist, then the answer is a 404 page', async () => {
    const res = await request(ctx.app).get('/nope');
    expect(res.status).toBe(404);
    expect(res.text).toContain('Page not found');
  });
});
