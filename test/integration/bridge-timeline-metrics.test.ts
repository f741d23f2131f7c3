import request from 'supertest';
import { BridgeAlexa, BridgeCredentials, cliWithStdin, servedTestContext, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createUser, signInAs, TestContext, webAgent } from '../support/context';
import { sample } from '../support/metrics';
import { QuirkyUpstream, startQuirkyUpstream } from '../support/upstreams/quirky-upstream';

/**
 * A bridged link's life on the link timeline (links:show, /admin/links) and in /metrics, as our
 * own grants' are: authorization started, the upstream's callback, code issued and redeemed (or
 * refused), each refresh (done, an answer reused, a transient upstream failure, refused with the
 * reason) and who ended the link.
 */
const METRICS_TOKEN = 'metrics-token-0123456789-abcdefghijklmnopqrstuvwxyz';
let ctx: TestContext;
let server: { url: string; close(): Promise<void> };
let served: { close(): Promise<void> };
let upstream: QuirkyUpstream;
let bridge: BridgeCredentials;

beforeAll(async () => {
  ({ ctx, server, ...served } = await servedTestContext({ METRICS_TOKEN }));
  upstream = await startQuirkyUpstream();
  const name = uniqueBridgeName('tl');
  upstream.setCallback(`${server.url}/bridge/${name}/callback`);
  const vendorId = uniqueVendor();
  const created = await cliWithStdin(
    [
      'bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', server.url,
      '--authorize-url', `${upstream.url}/oauth2/auth`, '--token-url', `${upstream.url}/api/token`, '--revocation-url', `${upstream.url}/api/revoke`,
      '--client-id', upstream.clientId, '--client-secret-stdin', '--token-auth', 'body', '--token-body', 'json',
      '--field', 'access_token=data.accessToken', '--field', 'refresh_token=data.refreshToken', '--field', 'expires_in=data.expiresIn',
      '--scope', 'read=profile.read', '--scope', 'control=devices.control', '--scope-separator', ',',
      '--authorize-param', 'audience=https://api.quirky.test', '--token-param', 'tenant=acme', '--no-state-echo', '--allow-http', '--json',
    ],
    upstream.clientSecret,
  );
  if (created.code !== 0) throw new Error(created.stderr);
  const out = created.json();
  bridge = { name, baseUrl: server.url, clientId: out.client_id, clientSecret: out.client_secret, vendorId };
});
afterAll(async () => {
  await upstream.close();
  await served.close();
});

const scrape = async () => (await request(ctx.app).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).text;

/** With the reuse window off, every refresh goes to the upstream. */
async function withoutReuseWindow<T>(work: () => Promise<T>): Promise<T> {
  const timings = ctx.services.bridges.timings;
  const window = timings.reuseWindowSeconds;
  timings.reuseWindowSeconds = 0;
  try {
    return await work();
  } finally {
    timings.reuseWindowSeconds = window;
  }
}

/**
 * A whole bridged life: a failed callback, link, refreshes (at the upstream, reused, a transient
 * failure), the upstream ending it; and another user's code redeemed twice (a re-link of the same
 * user would replace the first link: one link per grant).
 */
async function bridgedLife(email: string, otherEmail: string) {
  // The user goes to the upstream, which sends an error back instead of a code.
  const failed = new BridgeAlexa(bridge, { scope: 'read' }); // this upstream insists on both scopes: it stops the user there
  await expect(failed.authorize(email)).rejects.toThrow(/invalid_scope/);
  const back = await failed.jar.fetch(`${server.url}/bridge/${bridge.name}/callback?error=access_denied`);
  expect(new URL(back.headers.get('location')!).searchParams.get('error')).toBe('access_denied');

  const alexa = new BridgeAlexa(bridge, { scope: 'read control' });
  await alexa.link(email);
  const handle = alexa.tokens!.refresh_token!;
  expect((await withoutReuseWindow(() => alexa.refresh(handle))).status).toBe(200); // at the upstream
  expect((await alexa.refresh(handle)).status).toBe(200); // a retry: the answer already made
  upstream.outage = 'down';
  try {
    expect((await withoutReuseWindow(() => alexa.refresh(handle))).status).toBe(503);
  } finally {
    upstream.outage = false;
  }
  // Our code redeemed twice (a replay): refused, and what it issued ends.
  const replayed = new BridgeAlexa(bridge, { scope: 'read control' });
  const code = (await replayed.authorize(otherEmail)).searchParams.get('code')!;
  expect((await replayed.exchange(code)).status).toBe(200);
  expect((await replayed.exchange(code)).body.error).toBe('invalid_grant');
  // The upstream revokes everything: the next refresh ends the link.
  upstream.revokeAll();
  const ended = await withoutReuseWindow(() => alexa.refresh(handle));
  expect(ended.body.error).toBe('invalid_grant');
  expect((await alexa.refresh(handle)).body.error).toBe('invalid_grant'); // ended: refused without an upstream call
}

describe('a bridged link on the timeline and in the metrics', () => {
  it('when a bridged link lives its life, then links:show --json lists each event in order with its reason, and /admin/links shows them', async () => {
    const user = await createUser(ctx);
    const other = await createUser(ctx);
    await bridgedLife(user.email, other.email);
    await ctx.services.timeline.flush(); // the server's buffered events (written within a second anyway)
    const shown = await cliWithStdin(['links:show', '--email', user.email, '--client-id', bridge.clientId, '--json']);
    expect(shown.code).toBe(0);
    const [link] = shown.json().links;
    const events = (link.events as Array<{ type: string; reason: string | null; grant_id: number | null }>).map((e) => (e.reason ? `${e.type}: ${e.reason}` : e.type));
    expect(events).toEqual([
      'authorization_started',
      'upstream_callback_failed: upstream sent access_denied',
      'authorization_started',
      'upstream_linked',
      'code_issued',
      'code_redeemed',
      'refreshed',
      'refreshed: answer already made (retry or concurrent refresh within the reuse window)',
      'refresh_failed: upstream answered 5xx',
      'refresh_refused: upstream invalid_grant',
      'revoked: by upstream',
      'refresh_refused: upstream invalid_grant', // the ended link, refused again without an upstream call
    ]);
    expect(JSON.stringify(shown.json())).not.toMatch(/q_at_|q_rt_|lb_brt_|lb_bac_/);
    const replayed = await cliWithStdin(['links:show', '--email', other.email, '--client-id', bridge.clientId, '--json']);
    expect(replayed.json().links[0].events.map((e: { type: string; reason: string | null }) => (e.reason ? `${e.type}: ${e.reason}` : e.type))).toEqual([
      'authorization_started',
      'upstream_linked',
      'code_issued',
      'code_redeemed',
      'revoked: by replay',
      'code_refused: not yet redeemed',
    ]);

    const admin = webAgent(ctx.app);
    await signInAs(admin, (await createUser(ctx, { isAdmin: true })).email);
    const page = await admin.get('/admin/links').query({ email: user.email, client_id: bridge.clientId });
    expect(page.status).toBe(200);
    for (const label of ['Upstream callback: tokens received', 'Upstream callback failed', 'Refresh failed (link kept, Alexa retries)', 'upstream invalid_grant', 'by upstream']) expect(page.text).toContain(label);
  });

  it('when a bridged link lives its life, then /metrics counts its token requests by grant type, outcome and reason (endpoint="bridge"), the unlinking refresh and the revocation', async () => {
    const before = await scrape();
    await bridgedLife((await createUser(ctx)).email, (await createUser(ctx)).email);
    const text = await scrape();
    const grew = (name: string, labels: Record<string, string>) => (sample(text, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    const requests = (grant_type: string, outcome: string, reason = 'none') => grew('linkbridge_oauth_token_requests_total', { endpoint: 'bridge', grant_type, outcome, reason });
    expect(requests('authorization_code', 'issued')).toBe(2);
    expect(requests('authorization_code', 'invalid_grant', 'not yet redeemed')).toBe(1);
    expect(requests('refresh_token', 'issued')).toBe(2);
    expect(requests('refresh_token', 'temporarily_unavailable')).toBe(1);
    expect(requests('refresh_token', 'invalid_grant', 'upstream invalid_grant')).toBe(2);
    expect(grew('linkbridge_oauth_refresh_unlinked_total', { endpoint: 'bridge', reason: 'upstream invalid_grant' })).toBe(2);
    expect(grew('linkbridge_oauth_token_duration_seconds_count', { endpoint: 'bridge', grant_type: 'refresh_token' })).toBe(5);
    expect(grew('linkbridge_revocations_total', { by: 'upstream' })).toBe(1);
    expect(grew('linkbridge_revocations_total', { by: 'replay' })).toBe(1);
    // Our own endpoint's series are apart.
    expect(grew('linkbridge_oauth_token_requests_total', { endpoint: 'oauth' })).toBe(0);
    // A wrong secret at the bridge is counted too.
    const wrong = new BridgeAlexa({ ...bridge, clientSecret: 'lb_cs_wrong' });
    expect((await wrong.token({ grant_type: 'refresh_token', refresh_token: 'lb_brt_x' })).status).toBe(401);
    const after = await scrape();
    expect((sample(after, 'linkbridge_oauth_token_requests_total', { endpoint: 'bridge', grant_type: 'refresh_token', outcome: 'invalid_client' }) ?? 0) - (sample(text, 'linkbridge_oauth_token_requests_total', { endpoint: 'bridge', grant_type: 'refresh_token', outcome: 'invalid_client' }) ?? 0)).toBe(1);
    expect(after).not.toContain(bridge.name);
    expect(after).not.toContain(bridge.clientId);
  });
});
