import http from 'node:http';
import { createHash } from 'node:crypto';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, TestContext } from '../support/context';
import { form, postgresServerEnv, startServerProcess } from '../support/server-process';

/** Signals a server process gets in production: SIGTERM on deploys, SIGKILL on crashes. */
describe('server process signals', () => {
  let ctx: TestContext;
  beforeAll(() => {
    ctx = createTestContext();
  });
  afterAll(() => ctx.close());

  const basic = (c: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`;

  it('when SIGTERM arrives under load, then in-flight requests complete, new connections are refused, and it exits 0 in bounded time', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const tokens = await alexa.link(user);
    const server = startServerProcess(postgresServerEnv({ SHUTDOWN_TIMEOUT_SECONDS: '10' }));
    const port = await server.ready;
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }).toString();
    // Requests the server is in the middle of receiving when the signal comes: headers and half
    // the body sent, the rest only after SIGTERM.
    const slow = Array.from({ length: 6 }, () => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/oauth/token', headers: { authorization: basic(alexa.client), 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } });
      const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
      });
      req.write(body.slice(0, 20));
      return { req, done };
    });
    await new Promise((r) => setTimeout(r, 500)); // the server has read their headers by now
    const started = Date.now();
    const exited = server.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const s of slow) s.req.end(body.slice(20));
    const results = await Promise.all(slow.map((s) => s.done));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).access_token).toMatch(/^lb_at_/);
    }
    // The listener is closed: a new connection is refused outright.
    await expect(fetch(`${server.url(port)}/healthz`)).rejects.toThrow();
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(15000);
  }, 60000);

  it('when the process is killed in the middle of refresh rotations, then nothing is half-written and the client retry works after a restart', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx, { rotation: 'rotate' }));
    let current = (await alexa.link(user)).refresh_token;
    const seen = [current];
    const first = startServerProcess(postgresServerEnv());
    const url = first.url(await first.ready);
    const refresh = (token: string) =>
      fetch(`${url}/oauth/token`, { ...form({ grant_type: 'refresh_token', refresh_token: token }), headers: { ...form({}).headers, authorization: basic(alexa.client) } });
    // A chain of rotations, with the process killed (SIGKILL) while requests are in flight.
    const chain = (async () => {
      for (let i = 0; i < 200; i++) {
        const res = await refresh(current).catch(() => undefined);
        if (!res || res.status !== 200) return;
        current = (await res.json()).refresh_token;
        seen.push(current);
      }
    })();
    // Kill once a few rotations went through (a fixed delay saw none on a loaded machine), while
    // the next ones are in flight.
    for (const deadline = Date.now() + 15000; seen.length < 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 5));
    first.child.kill('SIGKILL');
    await chain;
    expect(await first.stop()).toBeNull();

    // Invariants a transaction guarantees: each rotated token points to its successor, and
    // every access token points to an existing refresh token.
    const grant = await ctx.knex('oauth_grants').where({ user_id: user.id }).first();
    const rows = await ctx.knex('oauth_refresh_tokens').where({ grant_id: grant.id });
    const ids = new Set(rows.map((r: { id: number }) => Number(r.id)));
    for (const r of rows) if (r.rotated_at) expect(ids.has(Number(r.replaced_by_id))).toBe(true);
    const orphans = await ctx.knex('oauth_access_tokens').where({ grant_id: grant.id }).whereNotIn('refresh_token_id', [...ids]);
    expect(orphans).toHaveLength(0);
    expect(rows.length).toBeGreaterThan(1);

    // After a restart the client's retry with the last token it holds works.
    const second = startServerProcess(postgresServerEnv());
    const url2 = second.url(await second.ready);
    const retry = await fetch(`${url2}/oauth/token`, { ...form({ grant_type: 'refresh_token', refresh_token: current }), headers: { ...form({}).headers, authorization: basic(alexa.client) } });
    expect(retry.status).toBe(200);
    // ...and so does the previous one, within the grace window (the response may have been lost).
    const previous = seen[seen.length - 2];
    if (previous) {
      const again = await fetch(`${url2}/oauth/token`, { ...form({ grant_type: 'refresh_token', refresh_token: previous }), headers: { ...form({}).headers, authorization: basic(alexa.client) } });
      expect(again.status).toBe(200);
    }
    expect(await second.stop()).toBe(0);
    const hash = createHash('sha256').update(current).digest('hex');
    expect(await ctx.knex('oauth_refresh_tokens').where({ token_hash: hash }).first()).toBeDefined();
  }, 60000);
});
