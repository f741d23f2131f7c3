import request from 'supertest';
import { sha256 } from '../../src/lib/crypto';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { bearerProbeApp } from '../support/bearer-probe';
import { createTestContext, createUser, TestContext } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

async function linked() {
  const user = await createUser(ctx);
  const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
  const tokens = await alexa.link(user);
  return { user, alexa, tokens };
}
const callApi = (token: string) => request(bearerProbeApp(ctx)).get('/api/probe').set('Authorization', `Bearer ${token}`);
const revoke = (alexa: AlexaSimulator, token: string) =>
  request(ctx.app).post('/oauth/revoke').type('form').auth(alexa.client.clientId, alexa.client.clientSecret).send({ token });
const introspect = (alexa: AlexaSimulator, token: string) =>
  request(ctx.app).post('/oauth/introspect').type('form').auth(alexa.client.clientId, alexa.client.clientSecret).send({ token });

describe('revocation (RFC 7009)', () => {
  it('when an access token is revoked, then the API refuses it at once and the refresh token still works', async () => {
    const { alexa, tokens } = await linked();
    const res = await revoke(alexa, tokens.access_token);
    expect(res.status).toBe(200);
    expect((await callApi(tokens.access_token)).status).toBe(401);
    expect((await alexa.refresh()).status).toBe(200);
  });

  it("when a refresh token is revoked, then its grant's access tokens are revoked too", async () => {
    const { alexa, tokens } = await linked();
    const second = (await alexa.refresh()).body.access_token as string;
    expect((await revoke(alexa, tokens.refresh_token)).status).toBe(200);
    expect((await callApi(tokens.access_token)).status).toBe(401);
    expect((await callApi(second)).status).toBe(401);
  });

  it('when the token is unknown, then the answer is still 200', async () => {
    const { alexa } = await linked();
    expect((await revoke(alexa, 'lb_at_not-a-real-token')).status).toBe(200);
    expect((await revoke(alexa, 'garbage')).status).toBe(200);
  });

  it("when a client revokes another client's token, then nothing happens", async () => {
    const victim = await linked();
    const attacker = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    expect((await revoke(attacker, victim.tokens.refresh_token)).status).toBe(200);
    expect((await revoke(attacker, victim.tokens.access_token)).status).toBe(200);
    expect((await callApi(victim.tokens.access_token)).status).toBe(200);
    expect((await victim.alexa.refresh()).status).toBe(200);
  });

  it('when the client does not authenticate, then 401 invalid_client', async () => {
    const { tokens } = await linked();
    const res = await request(ctx.app).post('/oauth/revoke').type('form').send({ token: tokens.access_token });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect((await callApi(tokens.access_token)).status).toBe(200);
  });

  it('when the token parameter is missing, then invalid_request', async () => {
    const { alexa } = await linked();
    const res = await request(ctx.app).post('/oauth/revoke').type('form').auth(alexa.client.clientId, alexa.client.clientSecret).send({});
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });
});

describe('introspection (RFC 7662)', () => {
  it('when a live access token is introspected, then it is active with its scope, client, subject and expiry', async () => {
    const { user, alexa, tokens } = await linked();
    const res = await introspect(alexa, tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ active: true, scope: 'read write', client_id: alexa.client.clientId, sub: String(user.id), token_type: 'Bearer', iss: 'http://localhost:3000' });
    expect(res.body.exp).toBeGreaterThan(Date.now() / 1000 + 3500);
  });

  it('when a token is revoked, unknown or of the wrong kind, then the answer is only {active: false}', async () => {
    const { alexa, tokens } = await linked();
    await revoke(alexa, tokens.access_token);
    expect((await introspect(alexa, tokens.access_token)).body).toEqual({ active: false });
    expect((await introspect(alexa, 'lb_at_nope')).body).toEqual({ active: false });
    expect((await introspect(alexa, 'something')).body).toEqual({ active: false });
  });

  it("when another client introspects someone's refresh token, then it is inactive", async () => {
    const victim = await linked();
    const other = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    expect((await introspect(other, victim.tokens.refresh_token)).body).toEqual({ active: false });
    expect((await introspect(victim.alexa, victim.tokens.refresh_token)).body).toMatchObject({ active: true, token_type: 'refresh_token' });
  });

  it("when a confidential client that is not a resource server introspects another client's access token, then it learns nothing", async () => {
    const victim = await linked();
    const other = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    expect((await introspect(other, victim.tokens.access_token)).body).toEqual({ active: false });
    // Its own tokens it may still introspect.
    expect((await introspect(victim.alexa, victim.tokens.access_token)).body).toMatchObject({ active: true });
  });

  it('when a client marked as a resource server introspects any access token, then it is active with its details', async () => {
    const victim = await linked();
    const { client, clientSecret } = await ctx.services.clients.create({ name: 'Recipes API', redirectUris: ['https://api.example/unused'], isResourceServer: true });
    const res = await request(ctx.app).post('/oauth/introspect').type('form').auth(client.clientId, clientSecret!).send({ token: victim.tokens.access_token });
    expect(res.body).toMatchObject({ active: true, client_id: victim.alexa.client.clientId, sub: String(victim.user.id) });
  });

  it('when a public client asks to introspect, then 401 invalid_client, and it can never be made a resource server', async () => {
    const victim = await linked();
    const { client } = await ctx.services.clients.create({ name: 'Public', redirectUris: ['https://app.example/cb'], isPublic: true, isResourceServer: true });
    expect(client.isResourceServer).toBe(false);
    const res = await request(ctx.app).post('/oauth/introspect').type('form').send({ client_id: client.clientId, token: victim.tokens.access_token });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(expect.objectContaining({ error: 'invalid_client' }));
  });

  it('when the caller does not authenticate, then 401', async () => {
    const { tokens } = await linked();
    const res = await request(ctx.app).post('/oauth/introspect').type('form').send({ token: tokens.access_token });
    expect(res.status).toBe(401);
    expect(res.body).not.toHaveProperty('active');
  });
});

describe('metadata (RFC 8414)', () => {
  it('when metadata is fetched with any Host header, then it lists what is supported with URLs from config', async () => {
    const res = await request(ctx.app).get('/.well-known/oauth-authorization-server').set('Host', 'evil.example');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      issuer: 'http://localhost:3000',
      authorization_endpoint: 'http://localhost:3000/oauth/authorize',
      token_endpoint: 'http://localhost:3000/oauth/token',
      revocation_endpoint: 'http://localhost:3000/oauth/revoke',
      introspection_endpoint: 'http://localhost:3000/oauth/introspect',
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'implicit'],
      response_types_supported: ['code', 'token'],
      scopes_supported: ['read', 'write'],
    });
    expect(JSON.stringify(res.body)).not.toContain('evil.example');
    expect(res.body.grant_types_supported).not.toContain('password');
  });
});

describe('bearer authentication (RFC 6750)', () => {
  it('when no token is sent, then 401 with a Bearer realm challenge and no error code', async () => {
    const res = await request(bearerProbeApp(ctx)).get('/api/probe');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="linkbridge"/);
    expect(res.headers['www-authenticate']).not.toContain('error=');
  });

  it('when the scheme is written in another case, then the token is still accepted', async () => {
    const { tokens } = await linked();
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      expect((await request(bearerProbeApp(ctx)).get('/api/probe').set('Authorization', `${scheme} ${tokens.access_token}`)).status).toBe(200);
    }
  });

  it('when the token is unknown or expired, then 401 invalid_token', async () => {
    const { tokens } = await linked();
    const unknown = await callApi('lb_at_unknown');
    expect(unknown.status).toBe(401);
    expect(unknown.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(unknown.body.error).toBe('invalid_token');
    await ctx.knex('oauth_access_tokens').where('token_hash', sha256(tokens.access_token)).update({ expires_at: new Date(Date.now() - 1000) });
    expect((await callApi(tokens.access_token)).status).toBe(401);
  });

  it('when the scope is missing, then 403 insufficient_scope naming the scope', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx), { scope: 'read' });
    const tokens = await alexa.link(user);
    const res = await request(bearerProbeApp(ctx)).post('/api/probe').set('Authorization', `Bearer ${tokens.access_token}`);
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(res.headers['www-authenticate']).toContain('scope="write"');
  });

  it('when the token is sent in the query string, then it is refused', async () => {
    const { tokens } = await linked();
    const res = await request(bearerProbeApp(ctx)).get(`/api/probe?access_token=${tokens.access_token}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('when the header is malformed, then invalid_request', async () => {
    const res = await request(bearerProbeApp(ctx)).get('/api/probe').set('Authorization', 'Bearer a b');
    expect(res.status).toBe(400);
    expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
  });
});
