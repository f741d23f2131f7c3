import { cliWithStdin, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createTestContext, TestContext } from '../support/context';

/** bridges:* as an operator (and the outside checks) drive them. */
let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const UPSTREAM_SECRET = 'upstream-secret-DO-NOT-PRINT';
const base = (name: string, vendorId = uniqueVendor()) => [
  '--name', name, '--vendor-id', vendorId, '--base-url', 'https://auth.example.com',
  '--authorize-url', 'https://idp.example.net/oauth/authorize', '--token-url', 'https://idp.example.net/oauth/token', '--client-id', 'linkbridge-at-idp', '--client-secret-stdin',
];

describe('bridges:create', () => {
  it('when a bridge is created, then every field of the Alexa console form is printed, with the callback to register upstream and our secret once', async () => {
    const name = uniqueBridgeName('cli');
    const vendorId = uniqueVendor();
    const res = await cliWithStdin(['bridges:create', ...base(name, vendorId), '--scope', 'read=profile:read', '--scope', 'control=devices:write'], `${UPSTREAM_SECRET}\n`);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = res.stdout;
    for (const label of ['Authorization Grant Type', 'Your Web Authorization URI', 'Access Token URI', 'Your Client ID', 'Your Secret', 'Your Authentication Scheme', 'Scope', 'Domain List', 'Default Access Token Expiration Time']) {
      expect(out).toContain(label);
    }
    expect(out).toContain(`https://auth.example.com/bridge/${name}/authorize`);
    expect(out).toContain(`https://auth.example.com/bridge/${name}/token`);
    expect(out).toContain(`https://auth.example.com/bridge/${name}/callback`);
    for (const host of ['pitangui.amazon.com', 'layla.amazon.com', 'alexa.amazon.co.jp']) expect(out).toContain(`https://${host}/api/skill/link/${vendorId}`);
    expect(out).toMatch(/Your Secret:\s+lb_cs_/);
    expect(out).toContain('read, control');
    expect(out).not.toContain(UPSTREAM_SECRET);
    // At rest the upstream secret is sealed, bound to its row.
    const row = await ctx.knex('bridges').where({ name }).first();
    expect(row.upstream_client_secret_sealed).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toContain(UPSTREAM_SECRET);
    expect(ctx.services.secrets!.open(row.upstream_client_secret_sealed, `bridge:${row.id}:client_secret`)).toBe(UPSTREAM_SECRET);
  });

  it('when --json is given, then one object carries at least name, authorization_uri, access_token_uri, client_id, client_secret and upstream_callback_url', async () => {
    const name = uniqueBridgeName('json');
    const res = await cliWithStdin(['bridges:create', ...base(name), '--json'], UPSTREAM_SECRET);
    expect(res.code).toBe(0);
    const j = res.json();
    expect(j).toMatchObject({
      name,
      authorization_uri: `https://auth.example.com/bridge/${name}/authorize`,
      access_token_uri: `https://auth.example.com/bridge/${name}/token`,
      upstream_callback_url: `https://auth.example.com/bridge/${name}/callback`,
    });
    expect(j.client_id).toMatch(/^lbc_/);
    expect(j.client_secret).toMatch(/^lb_cs_/);
    expect(res.stdout).not.toContain(UPSTREAM_SECRET);
  });

  it.each([
    ['a missing --token-url', (n: string) => base(n).filter((a, i, all) => a !== '--token-url' && all[i - 1] !== '--token-url'), 2, /--token-url is required/],
    ['an unknown flag', (n: string) => [...base(n), '--token-auth-method', 'basic'], 2, /Unknown option/],
    ['--token-auth bearer', (n: string) => [...base(n), '--token-auth', 'bearer'], 2, /basic or body/],
    ['--token-body xml', (n: string) => [...base(n), '--token-body', 'xml'], 2, /form or json/],
    ['an unknown --field', (n: string) => [...base(n), '--field', 'id_token=x'], 2, /the fields are/],
    ['a field path with brackets', (n: string) => [...base(n), '--field', 'access_token=data[0]'], 1, /field path/],
    ['a reserved --authorize-param', (n: string) => [...base(n), '--authorize-param', 'redirect_uri=https://evil.example'], 1, /set by the bridge itself/],
    ['a reserved --token-param', (n: string) => [...base(n), '--token-param', 'client_secret=x'], 1, /set by the bridge itself/],
    ['a malformed --token-param', (n: string) => [...base(n), '--token-param', 'novalue'], 2, /name=value/],
    ['an http upstream without --allow-http', (n: string) => base(n).map((a) => a.replace('https://idp', 'http://idp')), 1, /https/],
    ['--allow-http for a non-loopback host', (n: string) => [...base(n).map((a) => a.replace('https://idp', 'http://idp')), '--allow-http'], 1, /loopback/],
    ['a fragment in the base URL', (n: string) => base(n).map((a) => (a === 'https://auth.example.com' ? 'https://auth.example.com/#x' : a)), 1, /fragment/],
    ['a vendor ID with symbols', (n: string) => base(n).map((a, i, all) => (all[i - 1] === '--vendor-id' ? 'M1/../x' : a)), 1, /vendor ID/],
    ['a too short default lifetime', (n: string) => [...base(n), '--expires-in-default', '5'], 1, /at least 60/],
    ['a non-numeric default lifetime', (n: string) => [...base(n), '--expires-in-default', '1h'], 2, /number of seconds/],
    ['a scope with a quote', (n: string) => [...base(n), '--scope', 'read="x"'], 1, /scope/],
  ] as Array<[string, (n: string) => string[], number, RegExp]>)('when given %s, then it fails with a clear message and creates nothing', async (_label, args, code, message) => {
    const name = uniqueBridgeName('bad');
    const res = await cliWithStdin(['bridges:create', ...args(name)], UPSTREAM_SECRET);
    expect(res.code).toBe(code);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toContain(UPSTREAM_SECRET);
    expect(await ctx.knex('bridges').where({ name }).first()).toBeUndefined();
  });

  it('when the name is taken or not URL-safe, then nothing is created and no client is left behind', async () => {
    const name = uniqueBridgeName('dup');
    expect((await cliWithStdin(['bridges:create', ...base(name)], UPSTREAM_SECRET)).code).toBe(0);
    const again = await cliWithStdin(['bridges:create', ...base(name)], UPSTREAM_SECRET);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    const bad = await cliWithStdin(['bridges:create', ...base('Bad Name/..')], UPSTREAM_SECRET);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/lower-case/);
    // Other test files create clients at the same time: count only this bridge's.
    const [{ n }] = await ctx.knex('oauth_clients').where({ name: `${name} (bridge)` }).count<{ n: string | number }[]>({ n: '*' });
    expect(Number(n)).toBe(1);
    expect(await ctx.knex('oauth_clients').where('name', 'like', 'Bad Name%').first()).toBeUndefined();
  });

  it('when --client-secret-stdin gets an empty standard input, then it refuses', async () => {
    const res = await cliWithStdin(['bridges:create', ...base(uniqueBridgeName('empty'))], '');
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('standard input was empty');
  });
});

describe('bridges:list, show, update, delete', () => {
  it('when a bridge is shown or listed, then no secret is printed, ours or the upstream\'s', async () => {
    const name = uniqueBridgeName('show');
    const created = (await cliWithStdin(['bridges:create', ...base(name), '--json'], UPSTREAM_SECRET)).json();
    const show = await cliWithStdin(['bridges:show', '--name', name]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`https://auth.example.com/bridge/${name}/callback`);
    expect(show.stdout).toContain('secret set (encrypted)');
    expect(show.stdout).not.toContain(created.client_secret);
    expect(show.stdout).not.toContain(UPSTREAM_SECRET);
    const list = await cliWithStdin(['bridges:list', '--json']);
    expect(list.json().map((b: { name: string }) => b.name)).toContain(name);
    expect(list.stdout).not.toContain(UPSTREAM_SECRET);
    expect((await cliWithStdin(['bridges:show', '--name', 'no-such'])).code).toBe(1);
  });

  it('when a bridge is updated, then only what is given changes, and a new secret from stdin replaces the sealed one', async () => {
    const name = uniqueBridgeName('upd');
    expect((await cliWithStdin(['bridges:create', ...base(name), '--field', 'access_token=data.at', '--field', 'expires_in=data.ttl'], UPSTREAM_SECRET)).code).toBe(0);
    const res = await cliWithStdin(['bridges:update', '--name', name, '--field', 'expires_in=data.lifetime', '--token-body', 'json', '--pkce', '--client-secret-stdin', '--json'], 'new-secret');
    expect(res.code).toBe(0);
    const j = res.json();
    expect(j.fields).toEqual({ access_token: 'data.at', refresh_token: 'refresh_token', expires_in: 'data.lifetime', token_type: 'token_type' });
    expect(j.token_body).toBe('json');
    expect(j.pkce).toBe(true);
    expect(j.token_auth).toBe('basic');
    const row = await ctx.knex('bridges').where({ name }).first();
    expect(ctx.services.secrets!.open(row.upstream_client_secret_sealed, `bridge:${row.id}:client_secret`)).toBe('new-secret');
    expect((await cliWithStdin(['bridges:update', '--name', name, '--pkce', '--no-pkce'])).code).toBe(2);
  });

  it('when a bridge is deleted, then its Alexa client goes with it', async () => {
    const name = uniqueBridgeName('del');
    const created = (await cliWithStdin(['bridges:create', ...base(name), '--json'], UPSTREAM_SECRET)).json();
    const res = await cliWithStdin(['bridges:delete', '--name', name, '--json']);
    expect(res.code).toBe(0);
    expect(res.json()).toMatchObject({ name, deleted: true });
    expect(await ctx.knex('bridges').where({ name }).first()).toBeUndefined();
    expect(await ctx.knex('oauth_clients').where({ client_id: created.client_id }).first()).toBeUndefined();
  });
});
