import { ProviderInput, ProviderView } from '../idp/providers.service';
import { CliContext, Command, requireString, UsageError } from './command';

/** What --json prints for a provider: never the secret. */
export const idpJson = (p: ProviderView) => ({
  id: p.id,
  name: p.name,
  display_name: p.displayName,
  type: p.type,
  enabled: p.enabled,
  callback_url: p.callbackUrl,
  client_id: p.clientId,
  has_client_secret: p.hasSecret,
  issuer: p.issuer,
  authorization_url: p.authorizationUrl,
  token_url: p.tokenUrl,
  userinfo_url: p.userinfoUrl,
  scope: p.scope,
  token_auth_method: p.tokenAuthMethod,
  subject_field: p.subjectField,
  email_field: p.emailField,
  email_verified_field: p.emailVerifiedField,
  name_field: p.nameField,
  trust_email: p.trustEmail,
  allow_http: p.allowHttp,
  allow_signup: p.allowSignup,
});

const shared = {
  name: { type: 'string' },
  'display-name': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-stdin': { type: 'boolean' },
  issuer: { type: 'string' },
  'authorization-url': { type: 'string' },
  'token-url': { type: 'string' },
  'userinfo-url': { type: 'string' },
  scope: { type: 'string' },
  'token-auth': { type: 'string' },
  'subject-field': { type: 'string' },
  'email-field': { type: 'string' },
  'email-verified-field': { type: 'string' },
  'name-field': { type: 'string' },
  'trust-email': { type: 'boolean' },
  'no-trust-email': { type: 'boolean' },
  'allow-http': { type: 'boolean' },
  'no-allow-http': { type: 'boolean' },
  'no-signup': { type: 'boolean' },
  signup: { type: 'boolean' },
  enable: { type: 'boolean' },
  disable: { type: 'boolean' },
} as const;

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** `--x` / `--no-x` to true/false/unchanged; both at once is a usage error. */
function flag(values: Record<string, unknown>, on: string, off: string): boolean | undefined {
  if (values[on] === true && values[off] === true) throw new UsageError(`--${on} and --${off} contradict each other`);
  return values[on] === true ? true : values[off] === true ? false : undefined;
}

async function inputFrom(ctx: CliContext, values: Record<string, unknown>): Promise<ProviderInput> {
  const tokenAuth = str(values['token-auth']);
  if (tokenAuth !== undefined && tokenAuth !== 'post' && tokenAuth !== 'basic') throw new UsageError('--token-auth must be post or basic');
  let clientSecret: string | undefined;
  if (values['client-secret-stdin'] === true) {
    clientSecret = (await ctx.readStdin()).replace(/\r?\n$/, '');
    if (!clientSecret) throw new UsageError('--client-secret-stdin: nothing was read from standard input');
  }
  return {
    name: str(values.name),
    displayName: str(values['display-name']),
    clientId: str(values['client-id']),
    clientSecret,
    issuer: str(values.issuer),
    authorizationUrl: str(values['authorization-url']),
    tokenUrl: str(values['token-url']),
    userinfoUrl: str(values['userinfo-url']),
    scope: str(values.scope),
    tokenAuthMethod: tokenAuth === undefined ? undefined : tokenAuth === 'basic' ? 'client_secret_basic' : 'client_secret_post',
    subjectField: str(values['subject-field']),
    emailField: str(values['email-field']),
    emailVerifiedField: str(values['email-verified-field']),
    nameField: str(values['name-field']),
    trustEmail: flag(values, 'trust-email', 'no-trust-email'),
    allowHttp: flag(values, 'allow-http', 'no-allow-http'),
    allowSignup: flag(values, 'signup', 'no-signup'),
    enabled: flag(values, 'enable', 'disable'),
  };
}

function describe(p: ProviderView): string {
  return [
    `${p.name} (${p.type}) "${p.displayName}" ${p.enabled ? 'enabled' : 'DISABLED'}`,
    `  callback URL (register it at the provider): ${p.callbackUrl}`,
    `  client_id: ${p.clientId}   scope: ${p.scope}`,
    p.issuer ? `  issuer: ${p.issuer}` : `  authorization: ${p.authorizationUrl}\n  token: ${p.tokenUrl}\n  profile: ${p.userinfoUrl} (subject: ${p.subjectField}, email: ${p.emailField ?? '-'}, verified: ${p.emailVerifiedField ?? '-'}, name: ${p.nameField ?? '-'})`,
    `  trust verified email: ${p.trustEmail ? 'yes' : 'no'}   new accounts: ${p.allowSignup ? 'yes' : 'no'}${p.allowHttp ? '   http allowed (loopback)' : ''}`,
  ].join('\n');
}

const COMMON_USAGE =
  '[--display-name D] [--issuer URL | --authorization-url U --token-url U --userinfo-url U] [--scope S] [--token-auth post|basic] [--subject-field F] [--email-field F] [--email-verified-field F] [--name-field F] [--trust-email|--no-trust-email] [--no-signup|--signup] [--allow-http] [--json]';

const idpsAdd: Command = {
  name: 'idps:add',
  summary: 'Add a sign-in provider (Login with Amazon, OpenID Connect, OAuth 2.0); the secret is read from standard input',
  usage: `idps:add --name N --type oidc|oauth2|amazon --client-id ID --client-secret-stdin ${COMMON_USAGE}`,
  options: { ...shared, type: { type: 'string' } },
  async run(ctx, { values }) {
    const type = requireString(values, 'type');
    if (!['oidc', 'oauth2', 'amazon'].includes(type)) throw new UsageError('--type must be oidc, oauth2 or amazon');
    requireString(values, 'name');
    requireString(values, 'client-id');
    if (values['client-secret-stdin'] !== true) throw new UsageError('--client-secret-stdin is required (pipe the secret in: never put it on the command line)');
    const p = await ctx.services.idps.create({ ...(await inputFrom(ctx, values)), type });
    ctx.out(`Added sign-in provider:\n${describe(p)}`, idpJson(p));
  },
};

const idpsUpdate: Command = {
  name: 'idps:update',
  summary: 'Change a sign-in provider (what is not given stays); --disable keeps its accounts',
  usage: `idps:update --name N [--client-id ID] [--client-secret-stdin] [--enable|--disable] ${COMMON_USAGE}`,
  options: shared,
  async run(ctx, { values }) {
    const name = requireString(values, 'name');
    const { name: _n, ...input } = await inputFrom(ctx, values);
    const p = await ctx.services.idps.update(name, input);
    ctx.out(`Updated:\n${describe(p)}`, idpJson(p));
  },
};

const idpsList: Command = {
  name: 'idps:list',
  summary: 'List the sign-in providers',
  usage: 'idps:list [--json]',
  options: {},
  async run(ctx) {
    const list = await ctx.services.idps.list();
    ctx.out(list.length ? list.map(describe).join('\n') : 'No sign-in providers.', list.map(idpJson));
  },
};

const idpsRemove: Command = {
  name: 'idps:remove',
  summary: 'Remove a sign-in provider and its linked identities (refused while someone could sign in only through it, unless --force)',
  usage: 'idps:remove --name N [--force] [--json]',
  options: { name: { type: 'string' }, force: { type: 'boolean' } },
  async run(ctx, { values }) {
    const result = await ctx.services.idps.remove(requireString(values, 'name'), { force: values.force === true });
    ctx.out(`Removed ${result.removed} and ${result.identitiesRemoved} linked identit${result.identitiesRemoved === 1 ? 'y' : 'ies'}.`, { removed: result.removed, identities_removed: result.identitiesRemoved });
  },
};

export const idpCommands: Command[] = [idpsAdd, idpsList, idpsUpdate, idpsRemove];
