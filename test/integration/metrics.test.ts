import { spawnSync } from 'node:child_process';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { createMetricsApp } from '../../src/metrics/metrics.routes';
import { ConfigError } from '../../src/config/config';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, signInAs, testConfig, TestContext, webAgent } from '../support/context';
import { sample } from '../support/metrics';

const METRICS_TOKEN = 'metrics-token-0123456789-abcdefghijklmnopqrstuvwxyz';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext({ METRICS_TOKEN });
});
afterAll(() => ctx.close());

const scrape = () => request(ctx.app).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`);

function promtool(): string | undefined {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return found.error ? undefined : 'promtool';
}

/** A link's whole life: a wrong password, consent, code, refreshes, a refused refresh, revocation. */
async function linkLifetime() {
  const user = await createUser(ctx);
  const client = await createAlexaClient(ctx);
  const alexa = new AlexaSimulator(ctx.app, client);
  const agent = webAgent(ctx.app);
  const start = await agent.get(alexa.authorizationPath());
  const returnTo = new URL(start.headers.location, 'http://localhost').searchParams.get('return_to')!;
  expect((await signInAs(agent, user.email, 'a wrong password, typed by mistake', returnTo)).status).toBe(400);
  const tokens = await alexa.link(user, agent);
  expect((await alexa.refresh()).status).toBe(200);
  expect((await request(ctx.app).get('/api/me').auth(tokens.access_token, { type: 'bearer' })).status).toBe(200);
  expect((await request(ctx.app).get('/api/recipes/424242').auth(tokens.access_token, { type: 'bearer' })).status).toBe(404);
  expect((await alexa.refresh('lb_rt_not-a-token-we-ever-issued')).status).toBe(400);
  const denied = new AlexaSimulator(ctx.app, client);
  await denied.openAndDecide(user, 'deny', agent);
  expect((await request(ctx.app).post('/oauth/revoke').auth(client.clientId, client.clientSecret).type('form').send({ token: tokens.refresh_token })).status).toBe(200);
  expect((await alexa.refresh()).status).toBe(400); // revoked: Alexa would unlink the user now
  return { tokens, client };
}

describe('GET /metrics', () => {
  it('when no METRICS_TOKEN or METRICS_PORT is configured, then /metrics does not exist', async () => {
    const plain = createTestContext();
    try {
      expect(plain.config.metrics.enabled).toBe(false);
      expect((await request(plain.app).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  it('when the bearer token is missing, wrong or sent another way, then 401 with a Bearer challenge, and no cookie', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}`, `Bearer ${METRICS_TOKEN}x`, `Bearer`]) {
      const req = request(ctx.app).get('/metrics');
      const res = await (auth ? req.set('Authorization', auth) : req);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.text).not.toContain('linkbridge_');
    }
    expect((await request(ctx.app).post('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).status).toBe(405);
    expect((await request(ctx.app).get('/metrics?x=1').query({ token: METRICS_TOKEN })).status).toBe(401);
  });

  it("when a link lives its life, then the scrape shows it: funnel, grants by outcome and reason, unlinking refreshes, routes by pattern, Alexa's budget, and no secret", async () => {
    const before = (await scrape()).text;
    const { tokens, client } = await linkLifetime();
    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers['set-cookie']).toBeUndefined();
    const text = res.text;
    const grew = (name: string, labels: Record<string, string>) => (sample(text, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);

    for (const step of ['authorize_request', 'sign_in_failed', 'sign_in_succeeded', 'consent_allowed', 'consent_denied', 'code_issued', 'code_redeemed']) {
      // Four authorization requests: signed out twice (before each sign-in), signed in for Allow, then for Deny.
      expect([step, grew('linkbridge_linking_funnel_total', { step })]).toEqual([step, step === 'authorize_request' ? 4 : 1]);
    }
    expect(grew('linkbridge_oauth_token_requests_total', { endpoint: 'oauth', grant_type: 'authorization_code', outcome: 'issued', reason: 'none' })).toBe(1);
    expect(grew('linkbridge_oauth_token_requests_total', { endpoint: 'oauth', grant_type: 'refresh_token', outcome: 'issued', reason: 'none' })).toBe(1);
    expect(grew('linkbridge_oauth_token_requests_total', { endpoint: 'oauth', grant_type: 'refresh_token', outcome: 'invalid_grant', reason: 'unknown token' })).toBe(1);
    // The rule's name from src/oauth/rules: the reason an invalid_grant was answered.
    expect(grew('linkbridge_oauth_token_requests_total', { endpoint: 'oauth', grant_type: 'refresh_token', outcome: 'invalid_grant', reason: 'not revoked' })).toBe(1);
    expect(grew('linkbridge_oauth_refresh_unlinked_total', { endpoint: 'oauth', reason: 'not revoked' })).toBe(1);
    expect(grew('linkbridge_revocations_total', { by: 'client' })).toBe(1);
    expect(grew('linkbridge_oauth_token_duration_seconds_count', { endpoint: 'oauth', grant_type: 'refresh_token' })).toBe(3);
    expect(sample(text, 'linkbridge_oauth_token_duration_seconds_bucket', { grant_type: 'refresh_token', le: '4.5' })).toBeGreaterThan(0);

    // Route patterns, never raw paths.
    expect(grew('linkbridge_http_request_duration_seconds_count', { method: 'POST', route: '/oauth/token', status: '200' })).toBe(2);
    expect(grew('linkbridge_http_request_duration_seconds_count', { method: 'GET', route: '/api/me', status: '200' })).toBe(1);
    expect(grew('linkbridge_http_request_duration_seconds_count', { method: 'GET', route: '/api/recipes/:id', status: '404' })).toBe(1);
    expect(text).not.toContain('424242');

    // The rest of what is exported.
    for (const name of [
      'linkbridge_db_pool_connections',
      'linkbridge_db_pool_max_connections',
      'linkbridge_revocation_listener_up',
      'linkbridge_cache_lookups_total',
      'linkbridge_cache_entries',
      'linkbridge_password_hash_in_flight',
      'linkbridge_password_hash_queued',
      'linkbridge_password_hash_busy_total',
      'linkbridge_link_events_buffered',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect([name, text.includes(`\n${name}`)]).toEqual([name, true]);
    }
    expect(sample(text, 'linkbridge_db_pool_max_connections')).toBe(4);
    expect(sample(text, 'linkbridge_cache_lookups_total', { cache: 'access_token', result: 'off' })).toBeGreaterThan(0); // no listener in tests
    expect(text).not.toMatch(/nodejs_active_\w+_total/);
    for (const secret of [tokens.access_token, tokens.refresh_token, client.clientSecret, 'lb_rt_', 'lb_at_', 'lb_ac_', 'a wrong password', METRICS_TOKEN]) expect(text).not.toContain(secret);
  });

  it('when promtool checks a scrape taken after a linking flow, then it passes', async () => {
    await linkLifetime();
    const text = (await scrape()).text;
    const tool = promtool();
    if (!tool) {
      if (process.env.REQUIRE_PROMTOOL) throw new Error('REQUIRE_PROMTOOL is set but promtool is not installed (apt-get install prometheus)');
      console.warn('promtool not found: skipping `promtool check metrics` (apt-get install prometheus; .ci/run sets REQUIRE_PROMTOOL=1)');
      return;
    }
    const checked = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ status: checked.status, out: `${checked.stdout}${checked.stderr}` }).toEqual({ status: 0, out: '' });
  });

  it('when the user signs in and links, then the password-hashing queue and pool gauges read back as numbers', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    const text = (await scrape()).text;
    expect(sample(text, 'linkbridge_password_hash_in_flight', { lane: 'login' })).toBe(0);
    expect(sample(text, 'linkbridge_password_hash_queued', { lane: 'signup' })).toBe(0);
    expect(sample(text, 'linkbridge_db_pool_connections', { state: 'used' })).toBeGreaterThanOrEqual(0);
  });
});

describe('METRICS_PORT', () => {
  it('when /metrics is served on its own loopback listener, then it answers there without a token, and nothing else', async () => {
    const own = createTestContext({ METRICS_PORT: '19464' });
    const server = createMetricsApp(own.services.metrics.registry).listen(0, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('linkbridge_linking_funnel_total');
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
      // The main app does not serve it without a token.
      expect((await request(own.app).get('/metrics')).status).toBe(404);
    } finally {
      server.close();
      await own.close();
    }
  });

  it('when METRICS_TOKEN is weak or METRICS_PORT is the main port, then the configuration is refused, naming the variable', () => {
    expect(() => testConfig({ METRICS_TOKEN: 'short' })).toThrow(ConfigError);
    expect(() => testConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
    expect(() => testConfig({ PORT: '3000', METRICS_PORT: '3000' })).toThrow(/METRICS_PORT/);
  });
});
