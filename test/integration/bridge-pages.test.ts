import { uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createTestContext, createUser, signInAs, TestContext, webAgent } from '../support/context';

/** /admin/bridges: what an administrator sees of the bridges (never a secret). */
let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

async function aBridge() {
  const name = uniqueBridgeName('page');
  const created = await ctx.services.bridges.create({
    name,
    vendorId: uniqueVendor(),
    baseUrl: 'https://auth.example.com',
    authorizeUrl: 'https://idp.example.net/authorize',
    tokenUrl: 'https://idp.example.net/token',
    upstreamClientId: 'lb',
    upstreamClientSecret: 'upstream-secret-never-shown',
    scopes: [{ alexa: 'read', upstream: ['idp.read'] }],
  });
  return { name, ...created };
}

describe('the admin bridge pages', () => {
  it('when an administrator opens them, then each bridge shows its console values and callback URL, and no secret', async () => {
    const { name, client, clientSecret } = await aBridge();
    const admin = await createUser(ctx, { isAdmin: true });
    const agent = webAgent(ctx.app);
    await signInAs(agent, admin.email);
    const list = await agent.get('/admin/bridges');
    expect(list.status).toBe(200);
    expect(list.text).toContain(`https://auth.example.com/bridge/${name}/authorize`);
    const show = await agent.get(`/admin/bridges/${name}`);
    expect(show.status).toBe(200);
    expect(show.text).toContain(`https://auth.example.com/bridge/${name}/callback`);
    expect(show.text).toContain(client.clientId);
    expect(show.text).not.toContain(clientSecret);
    expect(show.text).not.toContain('upstream-secret-never-shown');
    expect(show.headers['cache-control']).toBe('no-store');
    expect((await agent.get('/admin/bridges/no-such-bridge')).status).toBe(404);
    expect((await agent.get('/admin/bridges/..%2F..%2Fetc')).status).toBe(404);
  });

  it('when someone who is not an administrator opens them, then it is 403', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    expect((await agent.get('/admin/bridges')).status).toBe(403);
  });

  it('when a hostile request reaches the bridge endpoints, then it gets a clear 4xx, never a 500', async () => {
    const { name } = await aBridge();
    const agent = webAgent(ctx.app);
    const paths = [
      `/bridge/${name}/authorize`,
      `/bridge/${name}/authorize?client_id[]=x`,
      `/bridge/${name}/authorize?client_id=${'x'.repeat(5000)}`,
      `/bridge/${name}/callback`,
      `/bridge/${'a'.repeat(60)}/authorize`,
      '/bridge/%00/authorize',
    ];
    for (const p of paths) {
      const res = await agent.get(p);
      expect([303, 400, 404]).toContain(res.status);
    }
    const token = (body: string, type = 'application/x-www-form-urlencoded') => agent.post(`/bridge/${name}/token`).set('content-type', type).send(body);
    for (const [body, type] of [
      ['grant_type=refresh_token&grant_type=refresh_token', undefined],
      ['%%%', undefined],
      ['a=\u0000', undefined],
      ['x'.repeat(20000), undefined],
      ['{"grant_type":"refresh_token"}', 'application/json'],
      ['', 'text/plain'],
    ] as Array<[string, string | undefined]>) {
      const res = await token(body, type);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body.error).toEqual(expect.any(String));
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });
});
