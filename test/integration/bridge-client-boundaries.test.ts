import request from 'supertest';
import { confineBridgeClients } from '../../migrations/20261201_012_bridge_gaps';
import { alexaRedirectUris } from '../../src/oauth/clients/redirect-uris';
import { uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createTestContext, createUser, signInAs, TestContext, webAgent, WebAgent } from '../support/context';

/**
 * A bridge's own Alexa client gets the upstream's tokens at /bridge/<name>/... and nothing of ours:
 * /oauth/authorize and /oauth/token refuse it (unauthorized_client), and an ordinary client, or
 * another bridge's, is unknown at a bridge (invalid_client).
 */
let ctx: TestContext;
let agent: WebAgent;
beforeAll(async () => {
  ctx = createTestContext();
  const user = await createUser(ctx);
  agent = webAgent(ctx.app);
  await signInAs(agent, user.email);
});
afterAll(() => ctx.close());

async function aBridge() {
  const vendorId = uniqueVendor();
  const created = await ctx.services.bridges.create({
    name: uniqueBridgeName('edge'),
    vendorId,
    baseUrl: 'https://auth.example.com',
    authorizeUrl: 'https://idp.example.net/authorize',
    tokenUrl: 'https://idp.example.net/token',
    upstreamClientId: 'lb',
    upstreamClientSecret: 'upstream-secret',
  });
  return { ...created, redirectUri: alexaRedirectUris(vendorId)[0] };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const ourToken = (id: string, secret: string, body: Record<string, string>) => request(ctx.app).post('/oauth/token').set('authorization', basic(id, secret)).type('form').send(body);
const bridgeToken = (name: string, id: string, secret: string, body: Record<string, string>) =>
  request(ctx.app).post(`/bridge/${name}/token`).set('authorization', basic(id, secret)).type('form').send(body);

describe("a bridge's Alexa client outside its bridge", () => {
  it('when it asks /oauth/authorize for a code or a token, then it is sent back to Alexa with unauthorized_client and its state, and no code is made', async () => {
    const { client, redirectUri } = await aBridge();
    for (const responseType of ['code', 'token']) {
      const res = await agent.get('/oauth/authorize').query({ client_id: client.clientId, response_type: responseType, redirect_uri: redirectUri, state: 'alexa+state=1', scope: 'recipes:read' });
      expect(res.status).toBe(302);
      const back = new URL(res.headers.location);
      expect(back.href.startsWith(redirectUri)).toBe(true);
      const params = responseType === 'code' ? back.searchParams : new URLSearchParams(back.hash.slice(1));
      expect(params.get('error')).toBe('unauthorized_client');
      expect(params.get('state')).toBe('alexa+state=1');
      expect(params.get('code')).toBeNull();
      expect(params.get('access_token')).toBeNull();
    }
    const grants = await ctx.knex('oauth_grants').where({ client_id: client.id }).count<{ n: string }[]>({ n: '*' });
    expect(Number(grants[0].n)).toBe(0);
  });

  it('when it calls /oauth/token with its right credentials, then it is 400 unauthorized_client; with a wrong secret still 401 invalid_client', async () => {
    const { client, clientSecret } = await aBridge();
    for (const body of <Array<Record<string, string>>>[
      { grant_type: 'authorization_code', code: 'lb_ac_whatever', redirect_uri: client.redirectUris[0] },
      { grant_type: 'refresh_token', refresh_token: 'lb_rt_whatever' },
    ]) {
      const res = await ourToken(client.clientId, clientSecret, body);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('unauthorized_client');
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
    const wrong = await ourToken(client.clientId, 'lb_cs_wrong', { grant_type: 'refresh_token', refresh_token: 'lb_rt_whatever' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
  });

  it('when a bridge created before this rule exists, then the migration confines its client too', async () => {
    const { client, clientSecret } = await aBridge();
    await ctx.knex('oauth_clients').where({ id: client.id }).update({ grants: ['authorization_code', 'refresh_token'] });
    await confineBridgeClients(ctx.knex); // what migration 012 runs
    expect((await ctx.knex('oauth_clients').where({ id: client.id }).first('grants')).grants).toEqual(['bridge']);
    const res = await ourToken(client.clientId, clientSecret, { grant_type: 'refresh_token', refresh_token: 'lb_rt_whatever' });
    expect(res.body.error).toBe('unauthorized_client');
  });

  it('when the bridge is updated (vendor, --implicit), then its client stays confined to the bridge', async () => {
    const { bridge, client } = await aBridge();
    await ctx.services.bridges.update(bridge.name, { vendorId: uniqueVendor(), implicit: true });
    const after = await ctx.services.clients.findById(client.id);
    expect(after!.grants).toEqual(['bridge']);
    expect(after!.allowImplicit).toBe(true);
  });
});

describe('other clients at a bridge', () => {
  it('when an ordinary client uses /bridge/<name>/authorize, then an error page says invalid_client and nothing redirects', async () => {
    const { bridge } = await aBridge();
    const { client } = await ctx.services.clients.create({ name: 'Ordinary', redirectUris: ['https://app.example/cb'] });
    const res = await agent.get(`/bridge/${bridge.name}/authorize`).query({ client_id: client.clientId, response_type: 'code', redirect_uri: 'https://app.example/cb', state: 's' });
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.text).toContain('not registered with this bridge');
  });

  it("when an ordinary client or another bridge's client calls /bridge/<name>/token with its right credentials, then it is 401 invalid_client", async () => {
    const { bridge } = await aBridge();
    const other = await aBridge();
    const { client, clientSecret } = await ctx.services.clients.create({ name: 'Ordinary', redirectUris: ['https://app.example/cb'] });
    for (const [id, secret] of [
      [client.clientId, clientSecret!],
      [other.client.clientId, other.clientSecret],
    ]) {
      const res = await bridgeToken(bridge.name, id, secret, { grant_type: 'refresh_token', refresh_token: 'lb_brt_x' });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    }
  });
});
