import { OAuthClient } from '../oauth/domain';
import { ClientService } from '../oauth/clients/client.service';
import { alexaRedirectUris } from '../oauth/clients/redirect-uris';
import { parseScopeString } from '../oauth/scopes';
import { NotFoundError, ValidationError } from '../lib/errors';
import { CliContext, Command, requireString, UsageError } from './command';

export const clientJson = (c: OAuthClient) => ({
  id: c.id,
  client_id: c.clientId,
  name: c.name,
  public: c.secretHash === null,
  redirect_uris: c.redirectUris,
  scopes: c.scopes,
  require_pkce: c.requirePkce,
  implicit: c.allowImplicit,
  refresh_rotation: c.refreshRotation,
  access_token_ttl: c.accessTokenTtl,
  refresh_token_ttl: c.refreshTokenTtl,
  resource_server: c.isResourceServer,
});

const ttlOption = (v: unknown, name: string): number | null | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`--${name} must be a number of seconds`);
  return Number(v);
};

async function findClient(ctx: CliContext, clientId: string): Promise<OAuthClient> {
  const client = await ctx.services.clients.findByClientId(clientId);
  if (!client) throw new NotFoundError(`No client with client_id ${clientId}`);
  return client;
}

const clientsCreate: Command = {
  name: 'clients:create',
  summary: 'Register an OAuth client (the secret is printed once)',
  usage:
    'clients:create --name N --redirect-uri U [--redirect-uri U2 ...] [--scope "read write"] [--public] [--require-pkce] [--implicit] [--rotation off|rotate] [--access-token-ttl S] [--refresh-token-ttl S] [--resource-server] [--json]',
  options: {
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    scope: { type: 'string' },
    public: { type: 'boolean' },
    'require-pkce': { type: 'boolean' },
    implicit: { type: 'boolean' },
    rotation: { type: 'string' },
    'access-token-ttl': { type: 'string' },
    'refresh-token-ttl': { type: 'string' },
    'resource-server': { type: 'boolean' },
  },
  async run(ctx, { values }) {
    const rotation = values.rotation ?? 'off';
    if (rotation !== 'off' && rotation !== 'rotate') throw new UsageError('--rotation must be off or rotate');
    if (values['resource-server'] === true && values.public === true) throw new UsageError('A public client cannot be a resource server: it cannot authenticate.');
    const { client, clientSecret } = await ctx.services.clients.create({
      name: requireString(values, 'name'),
      redirectUris: (values['redirect-uri'] as string[] | undefined) ?? [],
      scopes: values.scope !== undefined ? parseScopeString(String(values.scope)) : undefined,
      isPublic: values.public === true,
      requirePkce: values['require-pkce'] === true,
      allowImplicit: values.implicit === true,
      refreshRotation: rotation,
      accessTokenTtl: ttlOption(values['access-token-ttl'], 'access-token-ttl'),
      refreshTokenTtl: ttlOption(values['refresh-token-ttl'], 'refresh-token-ttl'),
      isResourceServer: values['resource-server'] === true,
    });
    ctx.out(
      [
        `Created client "${client.name}"`,
        `  client_id:     ${client.clientId}`,
        clientSecret ? `  client_secret: ${clientSecret}   (shown once: store it now)` : '  public client: no secret, PKCE required',
      ].join('\n'),
      { ...clientJson(client), client_secret: clientSecret ?? null },
    );
  },
};

const clientsUpdate: Command = {
  name: 'clients:update',
  summary: "Change a client; what is not given stays as it is (narrowed scopes bind its existing tokens at once)",
  usage:
    'clients:update --client-id ID [--name N] [--redirect-uri U ...] [--scope "read"] [--require-pkce|--no-require-pkce] [--implicit|--no-implicit] [--rotation off|rotate] [--access-token-ttl S] [--refresh-token-ttl S] [--resource-server|--no-resource-server] [--json]',
  options: {
    'client-id': { type: 'string' },
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    scope: { type: 'string' },
    'require-pkce': { type: 'boolean' },
    'no-require-pkce': { type: 'boolean' },
    implicit: { type: 'boolean' },
    'no-implicit': { type: 'boolean' },
    rotation: { type: 'string' },
    'access-token-ttl': { type: 'string' },
    'refresh-token-ttl': { type: 'string' },
    'resource-server': { type: 'boolean' },
    'no-resource-server': { type: 'boolean' },
  },
  async run(ctx, { values }) {
    const client = await findClient(ctx, requireString(values, 'client-id'));
    const toggle = (on: string, off: string): boolean | undefined => {
      if (values[on] === true && values[off] === true) throw new UsageError(`--${on} and --${off} contradict each other`);
      return values[on] === true ? true : values[off] === true ? false : undefined;
    };
    const rotation = values.rotation;
    if (rotation !== undefined && rotation !== 'off' && rotation !== 'rotate') throw new UsageError('--rotation must be off or rotate');
    const resourceServer = toggle('resource-server', 'no-resource-server');
    if (resourceServer && client.secretHash === null) throw new UsageError('A public client cannot be a resource server: it cannot authenticate.');
    const updated = await ctx.services.clients.update(client.id, {
      name: values.name as string | undefined,
      redirectUris: values['redirect-uri'] as string[] | undefined,
      scopes: values.scope !== undefined ? parseScopeString(String(values.scope)) : undefined,
      requirePkce: toggle('require-pkce', 'no-require-pkce'),
      allowImplicit: toggle('implicit', 'no-implicit'),
      refreshRotation: rotation as 'off' | 'rotate' | undefined,
      accessTokenTtl: ttlOption(values['access-token-ttl'], 'access-token-ttl'),
      refreshTokenTtl: ttlOption(values['refresh-token-ttl'], 'refresh-token-ttl'),
      isResourceServer: resourceServer,
    });
    ctx.out(`Updated client "${updated.name}" (${updated.clientId})`, clientJson(updated));
  },
};

const clientsList: Command = {
  name: 'clients:list',
  summary: 'List OAuth clients',
  usage: 'clients:list [--json]',
  options: {},
  async run(ctx) {
    const clients = await ctx.services.clients.list();
    ctx.out(
      clients.length
        ? clients.map((c) => `${c.clientId}  ${c.name}  [${c.scopes.join(' ')}] rotation=${c.refreshRotation}${c.secretHash === null ? ' public' : ''}\n    ${c.redirectUris.join('\n    ')}`).join('\n')
        : 'No clients yet.',
      clients.map(clientJson),
    );
  },
};

const clientsRotateSecret: Command = {
  name: 'clients:rotate-secret',
  summary: 'Issue a new client secret (the old one keeps working for 24 hours unless --immediately)',
  usage: 'clients:rotate-secret --client-id ID [--immediately] [--json]',
  options: { 'client-id': { type: 'string' }, immediately: { type: 'boolean' } },
  async run(ctx, { values }) {
    const client = await findClient(ctx, requireString(values, 'client-id'));
    const rotated = await ctx.services.clients.rotateSecret(client.id, { immediately: values.immediately === true });
    ctx.out(`New client_secret for ${client.clientId}: ${rotated.clientSecret}   (shown once)`, { client_id: client.clientId, client_secret: rotated.clientSecret });
  },
};

const clientsDelete: Command = {
  name: 'clients:delete',
  summary: 'Delete a client and every link, code and token issued to it',
  usage: 'clients:delete --client-id ID [--json]',
  options: { 'client-id': { type: 'string' } },
  async run(ctx, { values }) {
    const client = await findClient(ctx, requireString(values, 'client-id'));
    await ctx.services.clients.delete(client.id);
    ctx.out(`Deleted client ${client.clientId} (${client.name})`, { client_id: client.clientId, deleted: true });
  },
};

const tokensCleanup: Command = {
  name: 'tokens:cleanup',
  summary: 'Remove expired codes and tokens, links revoked over 30 days ago, old consent requests, sessions and login counters (safe while serving)',
  usage: 'tokens:cleanup [--json]',
  options: {},
  async run(ctx) {
    const result = { ...(await ctx.services.cleanup.run()), bridge_requests_and_codes: await ctx.services.bridges.cleanup() };
    ctx.out(Object.entries(result).map(([k, v]) => `${k}: ${v} removed`).join('\n'), result);
  },
};

/** What the Alexa Developer Console's account-linking form asks for, field by field. */
export function alexaConsoleValues(baseUrl: string, client: OAuthClient, clientSecret: string | null, accessTokenTtl: number) {
  return {
    authorization_grant_type: 'Auth Code Grant',
    authorization_uri: `${baseUrl}/oauth/authorize`,
    access_token_uri: `${baseUrl}/oauth/token`,
    client_id: client.clientId,
    client_secret: clientSecret,
    authentication_scheme: 'HTTP Basic (Recommended)',
    scopes: client.scopes,
    domain_list: [] as string[],
    default_access_token_expiration_time: accessTokenTtl,
    alexa_redirect_urls: client.redirectUris,
  };
}

const alexaSetup: Command = {
  name: 'alexa:setup',
  summary: 'Create or update the Alexa client for a vendor ID and print every value for the Alexa Developer Console',
  usage: 'alexa:setup --vendor-id V --base-url https://your-host [--name N] [--rotate-secret] [--allow-http] [--json]',
  options: {
    'vendor-id': { type: 'string' },
    'base-url': { type: 'string' },
    name: { type: 'string' },
    'rotate-secret': { type: 'boolean' },
    'allow-http': { type: 'boolean' },
  },
  async run(ctx, { values }) {
    const vendorId = requireString(values, 'vendor-id').trim();
    if (!/^[A-Za-z0-9]{4,64}$/.test(vendorId)) throw new ValidationError('--vendor-id must be the letters and digits of your Amazon vendor ID (Alexa console > Settings)');
    const baseUrl = requireString(values, 'base-url').trim().replace(/\/+$/, '');
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new ValidationError('--base-url must be an absolute URL such as https://auth.example.com');
    }
    if (url.search || url.hash) throw new ValidationError('--base-url must not have a query or fragment');
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && values['allow-http'] === true)) {
      throw new ValidationError('--base-url must use https (Alexa requires HTTPS on port 443). For a local test only, add --allow-http.');
    }
    const service: ClientService = ctx.services.clients;
    const existing = await ctx.services.clients.findByAlexaVendorId(vendorId);
    const name = (values.name as string | undefined) ?? existing?.name ?? 'Alexa';
    const redirectUris = [...new Set([...alexaRedirectUris(vendorId), ...(existing?.redirectUris ?? [])])];
    let client: OAuthClient;
    let clientSecret: string | undefined;
    if (existing) {
      // Keep the client (and every linked user) and add any missing redirect URL. The secret stays
      // unless asked: the one pasted in the console must keep working, or every refresh fails.
      client = await service.update(existing.id, {
        name,
        redirectUris,
        scopes: existing.scopes,
        requirePkce: existing.requirePkce,
        allowImplicit: existing.allowImplicit,
        refreshRotation: existing.refreshRotation,
        accessTokenTtl: existing.accessTokenTtl,
        refreshTokenTtl: existing.refreshTokenTtl,
        alexaVendorId: vendorId,
      });
      if (values['rotate-secret'] === true) clientSecret = (await service.rotateSecret(existing.id)).clientSecret;
    } else {
      const created = await service.create({ name, redirectUris, refreshRotation: 'off', alexaVendorId: vendorId });
      client = created.client;
      clientSecret = created.clientSecret!;
    }
    const ttl = client.accessTokenTtl ?? ctx.config.tokens.accessTokenTtlSeconds;
    const v = alexaConsoleValues(baseUrl, client, clientSecret ?? null, ttl);
    ctx.out(
      consoleFormText({
        heading: `${existing ? 'Updated' : 'Created'} the Alexa client "${client.name}" for vendor ${vendorId}.`,
        values: v,
        secretLines: clientSecret
          ? [
              `  Your Secret:                         ${clientSecret}`,
              `                                       (shown once; ${existing ? 'the previous secret keeps working for 24 hours' : 'only its hash is stored'})`,
            ]
          : [
              '  Your Secret:                         (unchanged: the one printed when the client was created)',
              '                                       (lost it? run again with --rotate-secret; the old one then works for 24 hours more)',
            ],
        scopeLine: `${v.scopes.join(', ')}   (add each as its own entry)`,
        domainNote: '(leave empty: the login page loads nothing from other domains)',
        expiryNote: '(seconds; we always send expires_in too)',
        redirectsOn: 'the client',
        https: url.protocol === 'https:',
      }),
      v,
    );
  },
};

export const clientCommands = [clientsCreate, clientsUpdate, clientsList, clientsRotateSecret, clientsDelete, alexaSetup, tokensCleanup];

/**
 * The Alexa Developer Console's account-linking form, field by field, as alexa:setup and
 * bridges:create print it; what differs between them comes in the parameters.
 */
export function consoleFormText(f: {
  heading: string;
  values: { authorization_grant_type: string; authorization_uri: string; access_token_uri: string; client_id: string; authentication_scheme: string; default_access_token_expiration_time: number; alexa_redirect_urls: string[] };
  secretLines: string[];
  scopeLine: string;
  domainNote: string;
  expiryNote: string;
  redirectsOn: string;
  /** Lines after the redirect URLs (a bridge's upstream callback). */
  extra?: string[];
  https: boolean;
}): string {
  const v = f.values;
  return [
    f.heading,
    '',
    'In the Alexa Developer Console: your skill > Build > Tools > Account Linking, fill in:',
    `  Authorization Grant Type:            ${v.authorization_grant_type}`,
    `  Your Web Authorization URI:          ${v.authorization_uri}`,
    `  Access Token URI:                    ${v.access_token_uri}`,
    `  Your Client ID:                      ${v.client_id}`,
    ...f.secretLines,
    `  Your Authentication Scheme:          ${v.authentication_scheme}`,
    `  Scope:                               ${f.scopeLine}`,
    `  Domain List:                         ${f.domainNote}`,
    `  Default Access Token Expiration Time: ${v.default_access_token_expiration_time}   ${f.expiryNote}`,
    '',
    `Alexa Redirect URLs (registered on ${f.redirectsOn}, compared exactly):`,
    ...v.alexa_redirect_urls.map((u) => `  ${u}`),
    '',
    ...(f.extra ?? []),
    f.https
      ? 'Serve these URLs over HTTPS on port 443 with a full certificate chain from a public CA (TLS 1.2 allowed).'
      : 'WARNING: plain http is for local testing only; Alexa will refuse to link against it.',
  ].join('\n');
}
