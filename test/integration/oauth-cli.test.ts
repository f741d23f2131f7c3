import { sha256 } from '../../src/lib/crypto';
import { AlexaSimulator } from '../support/alexa';
import { cli } from '../support/cli';
import { createTestContext, createUser, TestContext } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const vendor = () => `M${Math.random().toString(36).slice(2, 12).toUpperCase()}`;

describe('clients CLI', () => {
  it('when clients:create runs with --json, then it prints the client_id and a secret of unreserved characters that works once stored hashed', async () => {
    const r = await cli(['clients:create', '--name', 'CLI App', '--redirect-uri', 'https://cli.example/cb', '--redirect-uri', 'https://cli.example/cb2', '--scope', 'read', '--rotation', 'rotate', '--json']);
    expect(r.code).toBe(0);
    const out = r.json();
    expect(out.client_id).toMatch(/^[A-Za-z0-9._~-]+$/);
    expect(out.client_secret).toMatch(/^[A-Za-z0-9._~-]{40,}$/);
    expect(out).toMatchObject({ scopes: ['read'], refresh_rotation: 'rotate', redirect_uris: ['https://cli.example/cb', 'https://cli.example/cb2'] });
    const stored = await ctx.services.clients.findByClientId(out.client_id);
    expect(stored!.secretHash).toBe(sha256(out.client_secret));
  });

  it('when clients:create gets a bad redirect URI or scope, then it exits 1 and creates nothing', async () => {
    const named = async (name: string) => (await ctx.services.clients.list()).filter((c) => c.name === name).length;
    // (stderr is part of the comparison so that a failure says why)
    const exit = async (args: string[]) => {
      const r = await cli(args);
      return { code: r.code, stderr: r.stderr };
    };
    expect(await exit(['clients:create', '--name', 'Bad CLI client', '--redirect-uri', 'http://example.com/cb'])).toEqual({ code: 1, stderr: expect.stringContaining('must use https') });
    expect(await exit(['clients:create', '--name', 'Bad CLI client', '--redirect-uri', 'https://example.com/cb#frag'])).toEqual({ code: 1, stderr: expect.stringContaining('fragment') });
    expect(await exit(['clients:create', '--name', 'Bad CLI client', '--redirect-uri', 'https://example.com/cb', '--scope', 'admin'])).toEqual({ code: 1, stderr: expect.stringContaining('Unknown scope') });
    expect(await exit(['clients:create', '--name', 'Bad CLI client', '--redirect-uri', 'https://example.com/cb', '--rotation', 'sometimes'])).toEqual({ code: 2, stderr: expect.stringContaining('--rotation') });
    expect(await named('Bad CLI client')).toBe(0);
  });

  it('when clients:create --resource-server and clients:update run, then the flag and the narrowed scope are stored and printed', async () => {
    const rs = (await cli(['clients:create', '--name', 'RS', '--redirect-uri', 'https://rs.example/cb', '--resource-server', '--json'])).json();
    expect(rs.resource_server).toBe(true);
    const updated = await cli(['clients:update', '--client-id', rs.client_id, '--no-resource-server', '--scope', 'read', '--json']);
    expect(updated.code).toBe(0);
    expect(updated.json()).toMatchObject({ resource_server: false, scopes: ['read'], redirect_uris: ['https://rs.example/cb'] });
    const pub = await cli(['clients:create', '--name', 'Public RS', '--redirect-uri', 'https://rs.example/cb', '--public', '--resource-server']);
    expect(pub.code).toBe(2);
    expect(pub.stderr).toContain('cannot be a resource server');
  });

  it('when clients:rotate-secret and clients:delete run, then the new secret works and the client goes away', async () => {
    const created = (await cli(['clients:create', '--name', 'Rotating', '--redirect-uri', 'https://r.example/cb', '--json'])).json();
    const rotated = await cli(['clients:rotate-secret', '--client-id', created.client_id, '--json']);
    expect(rotated.code).toBe(0);
    const newSecret = rotated.json().client_secret;
    expect(await ctx.services.clients.authenticate(created.client_id, newSecret)).toBeDefined();
    // The old secret keeps working for a while, so a running skill is not cut off.
    expect(await ctx.services.clients.authenticate(created.client_id, created.client_secret)).toBeDefined();
    expect((await cli(['clients:list', '--json'])).json().map((c: { client_id: string }) => c.client_id)).toContain(created.client_id);
    expect((await cli(['clients:delete', '--client-id', created.client_id])).code).toBe(0);
    expect(await ctx.services.clients.findByClientId(created.client_id)).toBeUndefined();
    expect((await cli(['clients:delete', '--client-id', created.client_id])).code).toBe(1);
  });
});

describe('alexa:setup', () => {
  it('when run with a vendor ID and an https base URL, then it prints every console value and the client links a user', async () => {
    const vendorId = vendor();
    const r = await cli(['alexa:setup', '--vendor-id', vendorId, '--base-url', 'https://auth.example.com/', '--json']);
    expect(r.code).toBe(0);
    const v = r.json();
    expect(v).toMatchObject({
      authorization_uri: 'https://auth.example.com/oauth/authorize',
      access_token_uri: 'https://auth.example.com/oauth/token',
      authentication_scheme: 'HTTP Basic (Recommended)',
      scopes: ['read', 'write'],
      domain_list: [],
      default_access_token_expiration_time: 3600,
      alexa_redirect_urls: [
        `https://pitangui.amazon.com/api/skill/link/${vendorId}`,
        `https://layla.amazon.com/api/skill/link/${vendorId}`,
        `https://alexa.amazon.co.jp/api/skill/link/${vendorId}`,
      ],
    });
    // A second run without --rotate-secret keeps the secret that is in the console.
    const again = await cli(['alexa:setup', '--vendor-id', vendorId, '--base-url', 'https://auth.example.com', '--json']);
    expect(again.json()).toMatchObject({ client_id: v.client_id, client_secret: null });
    expect(await ctx.services.clients.authenticate(v.client_id, v.client_secret)).toBeDefined();
    const human = await cli(['alexa:setup', '--vendor-id', vendorId, '--base-url', 'https://auth.example.com', '--rotate-secret']);
    for (const field of ['Your Web Authorization URI', 'Access Token URI', 'Your Client ID', 'Your Secret', 'Your Authentication Scheme', 'Scope', 'Domain List', 'Default Access Token Expiration Time']) {
      expect(human.stdout).toContain(field);
    }
    // The runs updated the same client (no duplicate); --rotate-secret issued a fresh secret.
    const clients = (await ctx.services.clients.list()).filter((c) => c.alexaVendorId === vendorId);
    expect(clients).toHaveLength(1);
    const secret = /Your Secret:\s+(\S+)/.exec(human.stdout)![1];
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, { clientId: v.client_id, clientSecret: secret, vendorId }, { region: 'FE' });
    expect((await alexa.link(user)).token_type).toBe('Bearer');
    // The previous secret (from the first run) still works during the changeover.
    expect(await ctx.services.clients.authenticate(v.client_id, v.client_secret)).toBeDefined();
  });

  it('when the base URL is not https, then it refuses unless told it is for local testing', async () => {
    const vendorId = vendor();
    const refused = await cli(['alexa:setup', '--vendor-id', vendorId, '--base-url', 'http://localhost:3000']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('https');
    const allowed = await cli(['alexa:setup', '--vendor-id', vendorId, '--base-url', 'http://localhost:3000', '--allow-http', '--json']);
    expect(allowed.code).toBe(0);
    expect(allowed.json().authorization_uri).toBe('http://localhost:3000/oauth/authorize');
  });

  it('when the vendor ID is missing or odd, then it exits non-zero', async () => {
    expect((await cli(['alexa:setup', '--base-url', 'https://a.example'])).code).toBe(2);
    expect((await cli(['alexa:setup', '--vendor-id', '../etc', '--base-url', 'https://a.example'])).code).toBe(1);
  });
});

describe('tokens:cleanup', () => {
  it('when codes and tokens have expired, then cleanup removes them and leaves live ones', async () => {
    const user = await createUser(ctx);
    const vendorId = vendor();
    const setup = (await cli(['alexa:setup', '--vendor-id', vendorId, '--base-url', 'https://a.example', '--json'])).json();
    const alexa = new AlexaSimulator(ctx.app, { clientId: setup.client_id, clientSecret: setup.client_secret, vendorId });
    const tokens = await alexa.link(user);
    const old = (await alexa.refresh()).body.access_token as string;
    await ctx.knex('oauth_access_tokens').where({ token_hash: sha256(old) }).update({ expires_at: new Date(Date.now() - 1000) });
    const r = await cli(['tokens:cleanup', '--json']);
    expect(r.code).toBe(0);
    expect(r.json().access_tokens).toBeGreaterThanOrEqual(1);
    expect(await ctx.knex('oauth_access_tokens').where({ token_hash: sha256(old) }).first()).toBeUndefined();
    expect(await ctx.knex('oauth_access_tokens').where({ token_hash: sha256(tokens.access_token) }).first()).toBeDefined();
    expect((await alexa.refresh()).status).toBe(200);
  });
});
