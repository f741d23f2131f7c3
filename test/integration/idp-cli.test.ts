import { randomBytes } from 'node:crypto';
import { cli } from '../support/cli';
import { createTestContext, TestContext, webAgent } from '../support/context';

/** idps:add / list / update / remove, as an operator (or an outside check) drives them. */
let ctx: TestContext;
const tag = randomBytes(3).toString('hex');
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(async () => {
  for (const p of await ctx.services.idps.list()) if (p.name.endsWith(tag)) await ctx.services.idps.remove(p.name, { force: true });
  await ctx.close();
});

describe('cli idps', () => {
  it('when idps:add --type amazon reads the secret from stdin, then --json prints the name and the exact callback URL, the secret is stored sealed, and the login page offers it', async () => {
    const name = `amazon-${tag}`;
    const secret = `lwa-secret-${randomBytes(8).toString('hex')}`;
    const r = await cli(['idps:add', '--name', name, '--type', 'amazon', '--client-id', 'amzn1.application-oa2-client.abc', '--client-secret-stdin', '--json'], {}, `${secret}\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({
      name,
      type: 'amazon',
      callback_url: `http://localhost:3000/login/idp/${name}/callback`,
      authorization_url: 'https://www.amazon.com/ap/oa',
      token_url: 'https://api.amazon.com/auth/o2/token',
      userinfo_url: 'https://api.amazon.com/user/profile',
      scope: 'profile',
      subject_field: 'user_id',
      email_field: 'email',
      name_field: 'name',
      has_client_secret: true,
    });
    expect(r.stdout).not.toContain(secret);
    const row = await ctx.knex('identity_providers').where({ name }).first();
    expect(row.client_secret_sealed).toMatch(/^v1\./);
    expect(row.client_secret_sealed).not.toContain(secret);
    expect(ctx.services.idps.secretOf((await ctx.services.idps.get(name)))).toBe(secret);
    expect((await webAgent(ctx.app).get('/login')).text).toContain('Continue with Amazon');

    const list = await cli(['idps:list', '--json']);
    expect(list.json()).toEqual(expect.arrayContaining([expect.objectContaining({ name, callback_url: out.callback_url })]));
    expect(list.stdout).not.toContain(secret);
  });

  it('when idps:add --type oidc and --type oauth2 get their URLs, then they are stored; --allow-http only for loopback', async () => {
    const oidc = await cli(['idps:add', '--name', `sso-${tag}`, '--type', 'oidc', '--issuer', 'https://login.example.com/realms/x', '--client-id', 'lb', '--client-secret-stdin', '--trust-email', '--json'], {}, 's');
    expect(oidc.code).toBe(0);
    expect(oidc.json()).toMatchObject({ type: 'oidc', issuer: 'https://login.example.com/realms/x', scope: 'openid email profile', trust_email: true });

    const oauth2 = await cli(
      ['idps:add', '--name', `rails-${tag}`, '--type', 'oauth2', '--client-id', 'lb', '--client-secret-stdin', '--authorization-url', 'http://127.0.0.1:9/oauth/authorize', '--token-url', 'http://127.0.0.1:9/oauth/token', '--userinfo-url', 'http://127.0.0.1:9/me', '--subject-field', 'id', '--scope', 'public', '--allow-http', '--json'],
      {},
      's',
    );
    expect(oauth2.code).toBe(0);
    expect(oauth2.json()).toMatchObject({ type: 'oauth2', subject_field: 'id', scope: 'public', allow_http: true });

    const remoteHttp = await cli(['idps:add', '--name', `bad-${tag}`, '--type', 'oidc', '--issuer', 'http://login.example.com', '--client-id', 'lb', '--client-secret-stdin', '--allow-http'], {}, 's');
    expect(remoteHttp.code).toBe(1);
    expect(remoteHttp.stderr).toContain('loopback');
    const plainHttp = await cli(['idps:add', '--name', `bad-${tag}`, '--type', 'oidc', '--issuer', 'http://127.0.0.1:9', '--client-id', 'lb', '--client-secret-stdin'], {}, 's');
    expect(plainHttp.code).toBe(1);
    expect(plainHttp.stderr).toContain('https://');
  });

  it('when idps:add is missing something or gets nonsense, then it exits non-zero with a clear message and adds nothing', async () => {
    const cases: Array<[string[], string | undefined, RegExp]> = [
      [['--name', `x-${tag}`, '--type', 'amazon', '--client-id', 'a'], 's', /--client-secret-stdin is required/],
      [['--name', `x-${tag}`, '--type', 'amazon', '--client-id', 'a', '--client-secret-stdin'], '', /nothing was read/],
      [['--name', `x-${tag}`, '--type', 'saml', '--client-id', 'a', '--client-secret-stdin'], 's', /--type must be/],
      [['--name', 'Bad Name!', '--type', 'amazon', '--client-id', 'a', '--client-secret-stdin'], 's', /lower-case/],
      [['--name', `x-${tag}`, '--type', 'oidc', '--client-id', 'a', '--client-secret-stdin'], 's', /--issuer is required/],
      [['--name', `x-${tag}`, '--type', 'oauth2', '--client-id', 'a', '--client-secret-stdin', '--authorization-url', 'https://a.example/x'], 's', /--token-url is required/],
      [['--name', `x-${tag}`, '--type', 'oidc', '--issuer', 'javascript:alert(1)', '--client-id', 'a', '--client-secret-stdin'], 's', /absolute http/],
      [['--name', `x-${tag}`, '--type', 'oidc', '--issuer', 'https://a.example', '--scope', 'email', '--client-id', 'a', '--client-secret-stdin'], 's', /must include openid/],
      [['--name', `x-${tag}`, '--type', 'amazon', '--client-id', 'a', '--client-secret', 'on-the-command-line'], undefined, /Unknown option/],
    ];
    for (const [args, stdin, message] of cases) {
      const r = await cli(['idps:add', ...args], {}, stdin);
      expect({ args, code: r.code }).toEqual({ args, code: expect.any(Number) });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
    expect((await ctx.services.idps.list()).find((p) => p.name === `x-${tag}`)).toBeUndefined();
    const dup = await cli(['idps:add', '--name', `amazon-${tag}`, '--type', 'amazon', '--client-id', 'a', '--client-secret-stdin'], {}, 's');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');
  });

  it('when idps:update changes some fields, then the rest stay; --disable hides the button and keeps the row; a new secret can be piped in', async () => {
    const name = `amazon-${tag}`;
    const before = await ctx.services.idps.get(name);
    const r = await cli(['idps:update', '--name', name, '--display-name', 'Amazon (test)', '--disable', '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ name, display_name: 'Amazon (test)', enabled: false, client_id: before.clientId, scope: 'profile' });
    expect((await webAgent(ctx.app).get('/login')).text).not.toContain(`/login/idp/${name}/start`);
    const secret = await cli(['idps:update', '--name', name, '--client-secret-stdin', '--enable', '--json'], {}, 'new-secret');
    expect(secret.code).toBe(0);
    expect(ctx.services.idps.secretOf(await ctx.services.idps.get(name))).toBe('new-secret');
    const unknown = await cli(['idps:update', '--name', `nope-${tag}`, '--disable']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No sign-in provider');
    const contradiction = await cli(['idps:update', '--name', name, '--enable', '--disable']);
    expect(contradiction.code).toBe(2);
  });

  it('when idps:remove runs, then the provider goes; a user reachable only through it stops the removal unless --force', async () => {
    const name = `rails-${tag}`;
    const p = await ctx.services.idps.get(name);
    const user = await ctx.knex('users').insert({ email: `only-${tag}@users.invalid`, email_canonical: `only-${tag}@users.invalid`, name: '', password_hash: '!no-password' }).returning('id');
    await ctx.knex('user_identities').insert({ user_id: user[0].id, provider_id: p.id, subject: 'only-one' });
    const refused = await cli(['idps:remove', '--name', name, '--json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--force');
    const forced = await cli(['idps:remove', '--name', name, '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(forced.json()).toEqual({ removed: name, identities_removed: 1 });
    expect(await ctx.knex('users').where({ id: user[0].id }).first()).toBeDefined(); // accounts stay
    const gone = await cli(['idps:remove', '--name', `sso-${tag}`, '--json']);
    expect(gone.code).toBe(0);
  });
});
