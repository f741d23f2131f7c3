import { logger } from '../../src/lib/logger';
import { BridgeAlexa, BridgeCredentials, cliWithStdin, servedTestContext, startStrictUpstream, StrictUpstream, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createUser, TEST_PASSWORD, TestContext } from '../support/context';
import { QuirkyUpstream, startQuirkyUpstream } from '../support/upstreams/quirky-upstream';

/**
 * Deleting an account ends each of its bridged links like a disconnect: our handle dies and the
 * upstream's RFC 7009 endpoint is called with the upstream refresh token and the bridge's client
 * authentication; an upstream that is down or hangs never blocks the deletion.
 */
let ctx: TestContext;
let server: { url: string; close(): Promise<void> };
let served: { close(): Promise<void> };
beforeAll(async () => {
  ({ ctx, server, ...served } = await servedTestContext());
});
afterAll(() => served.close());

const form = (data: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(data).toString() });

/** The signed-in user deletes their account on the page, in the browser that linked. */
async function deleteOnThePage(alexa: BridgeAlexa): Promise<Response> {
  const page = await (await alexa.jar.fetch(`${server.url}/account/delete`)).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1];
  return alexa.jar.fetch(`${server.url}/account/delete`, form({ _csrf: csrf, current_password: TEST_PASSWORD }));
}

async function bridgeTo(args: string[], secret: string, name: string, vendorId: string): Promise<BridgeCredentials> {
  const created = await cliWithStdin(['bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', server.url, '--client-secret-stdin', '--allow-http', '--json', ...args], secret);
  if (created.code !== 0) throw new Error(created.stderr);
  const out = created.json();
  return { name, baseUrl: server.url, clientId: out.client_id, clientSecret: out.client_secret, vendorId };
}

describe('account deletion with a link through a strict upstream (oidc-provider)', () => {
  let upstream: StrictUpstream;
  let bridge: BridgeCredentials;
  beforeAll(async () => {
    const name = uniqueBridgeName('del');
    upstream = await startStrictUpstream(`${server.url}/bridge/${name}/callback`);
    bridge = await bridgeTo(
      ['--authorize-url', `${upstream.url}/auth`, '--token-url', `${upstream.url}/token`, '--revocation-url', `${upstream.url}/token/revocation`, '--client-id', 'linkbridge', '--pkce', '--scope', 'read=read'],
      upstream.clientSecret,
      name,
      uniqueVendor(),
    );
  }, 40000);
  afterAll(() => upstream?.stop());

  it('when the user deletes their account, then the upstream revokes the refresh token (Basic auth accepted) and our handle is dead', async () => {
    const user = await createUser(ctx);
    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    await alexa.link(user.email);
    const [row] = await ctx.knex('bridge_links').where({ user_id: user.id }).select('id', 'refresh_token_sealed');
    const upstreamRefresh = ctx.services.secrets!.open(row.refresh_token_sealed, `bridge-link:${row.id}:refresh_token`);
    const before = (await upstream.stats()).revocations;

    const res = await deleteOnThePage(alexa);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/deleted');

    // oidc-provider counts only revocations it accepted, which needs the client's Basic credentials.
    expect((await upstream.stats()).revocations).toBe(before + 1);
    const direct = await fetch(`${upstream.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`linkbridge:${upstream.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: upstreamRefresh }).toString(),
    });
    expect(direct.status).toBe(400);
    expect((await direct.json()).error).toBe('invalid_grant');
    const refresh = await alexa.refresh();
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    expect(await ctx.knex('bridge_links').where({ user_id: user.id })).toEqual([]);
  });
});

describe('account deletion with links through the quirky upstream (credentials in a JSON body)', () => {
  let upstream: QuirkyUpstream;
  let bridge: BridgeCredentials;
  beforeAll(async () => {
    upstream = await startQuirkyUpstream();
    const name = uniqueBridgeName('delq');
    upstream.setCallback(`${server.url}/bridge/${name}/callback`);
    bridge = await bridgeTo(
      [
        '--authorize-url', `${upstream.url}/oauth2/auth`, '--token-url', `${upstream.url}/api/token`, '--revocation-url', `${upstream.url}/api/revoke`,
        '--client-id', upstream.clientId, '--token-auth', 'body', '--token-body', 'json',
        '--field', 'access_token=data.accessToken', '--field', 'refresh_token=data.refreshToken', '--field', 'expires_in=data.expiresIn',
        '--scope', 'read=profile.read', '--scope', 'control=devices.control', '--scope-separator', ',',
        '--authorize-param', 'audience=https://api.quirky.test', '--token-param', 'tenant=acme', '--no-state-echo',
      ],
      upstream.clientSecret,
      name,
      uniqueVendor(),
    );
  });
  afterAll(() => upstream.close());
  afterEach(() => {
    upstream.revocationOutage = false;
  });

  it('when an admin deletes the user (users:delete), then each bridged link is revoked upstream with its refresh token, the hint and the bridge\'s body credentials', async () => {
    const user = await createUser(ctx);
    const alexa = new BridgeAlexa(bridge, { scope: 'read control' });
    await alexa.link(user.email);
    const calls = upstream.revocations.length;
    const r = await cliWithStdin(['users:delete', '--email', user.email, '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(r.json().revoked_grants).toBe(1);
    expect(upstream.revocations.slice(calls)).toEqual([{ token: 'refresh', hint: 'refresh_token', authenticated: true }]);
    expect((await alexa.refresh()).body.error).toBe('invalid_grant');
  });

  it('when the upstream revocation endpoint is down or hangs, then the deletion still completes within the bound and the log names no token', async () => {
    const timings = ctx.services.bridges.timings;
    const bound = timings.revokeUpstreamMs;
    timings.revokeUpstreamMs = 300;
    const lines: string[] = [];
    const spy = jest.spyOn(logger, 'warn').mockImplementation(((obj: unknown, msg?: string) => {
      lines.push(JSON.stringify({ obj, msg }));
    }) as never);
    try {
      for (const outage of ['down', 'hang'] as const) {
        upstream.revocationOutage = outage;
        const user = await createUser(ctx);
        const alexa = new BridgeAlexa(bridge, { scope: 'read control' });
        await alexa.link(user.email);
        const calls = upstream.revocations.length;
        const started = Date.now();
        const res = await deleteOnThePage(alexa);
        expect(res.status).toBe(303);
        expect(Date.now() - started).toBeLessThan(3000);
        expect(upstream.revocations.length).toBe(calls + 1); // it was tried
        expect(await ctx.services.accounts.findById(user.id)).toBeUndefined();
        expect((await alexa.refresh()).body.error).toBe('invalid_grant');
      }
    } finally {
      spy.mockRestore();
      timings.revokeUpstreamMs = bound;
    }
    const logged = lines.join('\n');
    expect(logged).toMatch(/revocation/);
    expect(logged).not.toMatch(/q_rt_|q_at_|lb_brt_/);
  });
});
