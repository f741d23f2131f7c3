import { consoleFormText } from './client.commands';
import { BridgeInput, bridgeInputFromText, BridgeText, BridgeTextError } from '../bridge/bridge-input';
import { bridgeConsoleValues, bridgeJson } from '../bridge/bridge.service';
import { Bridge } from '../bridge/bridge.types';

import { CliContext, Command, OptionSpec, requireString, UsageError } from './command';

/** The flags outside checks drive (issue 15), with exactly these names. */
const configOptions: Record<string, OptionSpec> = {
  'vendor-id': { type: 'string' },
  'base-url': { type: 'string' },
  'authorize-url': { type: 'string' },
  'token-url': { type: 'string' },
  'revocation-url': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-stdin': { type: 'boolean' },
  'token-auth': { type: 'string' },
  'token-body': { type: 'string' },
  field: { type: 'string', multiple: true },
  'expires-in-default': { type: 'string' },
  scope: { type: 'string', multiple: true },
  'scope-separator': { type: 'string' },
  'authorize-param': { type: 'string', multiple: true },
  'token-param': { type: 'string', multiple: true },
  pkce: { type: 'boolean' },
  'no-state-echo': { type: 'boolean' },
  implicit: { type: 'boolean' },
  'upstream-implicit': { type: 'boolean' },
  'allow-http': { type: 'boolean' },
  'client-name': { type: 'string' },
};

const CONFIG_USAGE =
  '[--token-auth basic|body] [--token-body form|json] [--field access_token=PATH] [--field refresh_token=PATH] [--field expires_in=PATH] [--field token_type=PATH] [--expires-in-default S] [--scope read=up.read ...] [--scope-separator S] [--authorize-param k=v ...] [--token-param k=v ...] [--pkce] [--no-state-echo] [--implicit] [--upstream-implicit] [--revocation-url U] [--allow-http] [--client-name N] [--json]';

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : undefined);

/** The option each BridgeText field comes from, to name it in an error. */
const FLAG: Partial<Record<keyof BridgeText, string>> = {
  tokenAuth: 'token-auth',
  tokenBody: 'token-body',
  fields: 'field',
  expiresInDefault: 'expires-in-default',
  authorizeParams: 'authorize-param',
  tokenParams: 'token-param',
};

/** The flags given, as bridge input (the same converter as the admin form); what is not given is undefined (update leaves it as it is). */
async function configFromFlags(ctx: CliContext, values: Record<string, unknown>): Promise<Partial<BridgeInput>> {
  let upstreamClientSecret: string | undefined;
  if (values['client-secret-stdin'] === true) {
    try {
      upstreamClientSecret = await ctx.readSecret('Upstream client secret: ');
    } catch (err) {
      // The shared reader speaks of passwords; say which flag this was.
      if (err instanceof UsageError) throw new UsageError(/empty/i.test(err.message) ? '--client-secret-stdin: standard input was empty' : err.message.replace('--password-stdin', '--client-secret-stdin'));
      throw err;
    }
    if (upstreamClientSecret === '') throw new UsageError('--client-secret-stdin: standard input was empty');
  }
  const toggle = (on: string, off: string) => (values[on] === true ? true : values[off] === true ? false : undefined);
  try {
    return bridgeInputFromText({
      vendorId: str(values['vendor-id']),
      baseUrl: str(values['base-url']),
      authorizeUrl: str(values['authorize-url']),
      tokenUrl: str(values['token-url']),
      revocationUrl: str(values['revocation-url']),
      upstreamClientId: str(values['client-id']),
      upstreamClientSecret,
      tokenAuth: str(values['token-auth']),
      tokenBody: str(values['token-body']),
      fields: list(values.field),
      expiresInDefault: str(values['expires-in-default']),
      scopes: list(values.scope),
      scopeSeparator: str(values['scope-separator']),
      authorizeParams: list(values['authorize-param']),
      tokenParams: list(values['token-param']),
      pkce: toggle('pkce', 'no-pkce'),
      stateEcho: toggle('state-echo', 'no-state-echo'),
      implicit: toggle('implicit', 'no-implicit'),
      upstreamImplicit: toggle('upstream-implicit', 'no-upstream-implicit'),
      allowHttp: values['allow-http'] === true ? true : undefined,
      clientName: str(values['client-name']),
    });
  } catch (err) {
    if (err instanceof BridgeTextError) throw new UsageError(`--${FLAG[err.field] ?? err.field} ${err.message}`);
    throw err;
  }
}

function consoleText(v: ReturnType<typeof bridgeConsoleValues>, bridge: Bridge, heading: string): string {
  return consoleFormText({
    heading,
    values: v,
    secretLines: [
      v.client_secret
        ? `  Your Secret:                         ${v.client_secret}\n                                       (shown once; only its hash is stored)`
        : '  Your Secret:                         (the one printed when the bridge was created; clients:rotate-secret --client-id ID makes a new one)',
    ],
    scopeLine: v.scopes.length ? `${v.scopes.join(', ')}   (add each as its own entry)` : '(none)',
    domainNote: '(leave empty)',
    expiryNote: '(seconds; used when the upstream gives no expires_in, and we always send expires_in)',
    redirectsOn: 'the bridge',
    extra: ['At the upstream OAuth server, register this callback (redirect) URL for the client:', `  ${v.upstream_callback_url}`, ''],
    https: bridge.baseUrl.startsWith('https:'),
  });
}

const bridgesCreate: Command = {
  name: 'bridges:create',
  summary: 'Register a bridge to an upstream OAuth server and print every value for the Alexa console (the secret is printed once)',
  usage: `bridges:create --name N --vendor-id V --base-url URL --authorize-url U --token-url U --client-id X --client-secret-stdin ${CONFIG_USAGE}`,
  options: { name: { type: 'string' }, ...configOptions },
  async run(ctx, { values }) {
    const given = await configFromFlags(ctx, values);
    // An implicit-only upstream has no token endpoint to give.
    for (const flag of ['vendor-id', 'base-url', 'authorize-url', ...(values['upstream-implicit'] === true ? [] : ['token-url']), 'client-id']) requireString(values, flag);
    const { bridge, client, clientSecret } = await ctx.services.bridges.create({ ...given, name: requireString(values, 'name') } as BridgeInput);
    const v = bridgeConsoleValues(bridge, client, clientSecret);
    ctx.out(consoleText(v, bridge, `Created the bridge "${bridge.name}" to ${new URL(bridge.authorizeUrl).host}.`), { ...v, bridge: bridgeJson(bridge) });
  },
};

const bridgesUpdate: Command = {
  name: 'bridges:update',
  summary: 'Change a bridge; what is not given stays as it is (--client-secret-stdin replaces the upstream secret)',
  usage: `bridges:update --name N [--vendor-id V] [--base-url URL] [--authorize-url U] [--token-url U] [--client-id X] [--client-secret-stdin] [--no-pkce] [--state-echo] [--no-implicit] [--no-upstream-implicit] ${CONFIG_USAGE}`,
  options: { name: { type: 'string' }, ...configOptions, 'no-pkce': { type: 'boolean' }, 'state-echo': { type: 'boolean' }, 'no-implicit': { type: 'boolean' }, 'no-upstream-implicit': { type: 'boolean' } },
  async run(ctx, { values }) {
    const toggles: Array<[string, string]> = [['pkce', 'no-pkce'], ['state-echo', 'no-state-echo'], ['implicit', 'no-implicit'], ['upstream-implicit', 'no-upstream-implicit']];
    for (const [on, off] of toggles) if (values[on] === true && values[off] === true) throw new UsageError(`--${on} and --${off} contradict each other`);
    const bridge = await ctx.services.bridges.update(requireString(values, 'name'), await configFromFlags(ctx, values));
    ctx.out(`Updated the bridge "${bridge.name}".`, bridgeJson(bridge));
  },
};

const bridgesList: Command = {
  name: 'bridges:list',
  summary: 'List bridges',
  usage: 'bridges:list [--json]',
  options: {},
  async run(ctx) {
    const bridges = await ctx.services.bridges.list();
    ctx.out(bridges.length ? bridges.map((b) => `${b.name}  -> ${b.authorizeUrl}\n    ${b.baseUrl}/bridge/${b.name}/authorize`).join('\n') : 'No bridges yet.', bridges.map(bridgeJson));
  },
};

const bridgesShow: Command = {
  name: 'bridges:show',
  summary: 'Show a bridge and the values for the Alexa console (never a secret)',
  usage: 'bridges:show --name N [--json]',
  options: { name: { type: 'string' } },
  async run(ctx, { values }) {
    const bridge = await ctx.services.bridges.get(requireString(values, 'name'));
    const client = await ctx.services.bridges.clientOf(bridge);
    const v = bridgeConsoleValues(bridge, client, null);
    const j = bridgeJson(bridge);
    const upstream = [
      '',
      'Upstream:',
      `  authorization URL: ${j.authorize_url}`,
      `  token URL:         ${j.token_url} (credentials ${j.token_auth}, body ${j.token_body})`,
      `  revocation URL:    ${j.revocation_url ?? '(none)'}`,
      `  client ID:         ${j.upstream_client_id} (secret ${j.upstream_client_secret})`,
      `  fields:            ${Object.entries(j.fields).map(([k, p]) => `${k}=${p}`).join(' ')}`,
      `  scopes:            ${Object.entries(j.scopes).map(([k, s]) => `${k}=${s}`).join(', ') || '(as Alexa sends them)'} (separator "${j.scope_separator}")`,
      `  PKCE ${j.pkce ? 'on' : 'off'}, state echoed ${j.state_echo ? 'yes' : 'no'}, ${j.implicit ? 'implicit' : 'code'} grant for Alexa, ${j.upstream_implicit ? 'implicit' : 'code'} grant at the upstream`,
    ];
    ctx.out(`${consoleText(v, bridge, `Bridge "${bridge.name}" (${await ctx.services.bridges.liveLinkCount(bridge)} linked users).`)}\n${upstream.join('\n')}`, { ...v, bridge: j });
  },
};

const bridgesDelete: Command = {
  name: 'bridges:delete',
  summary: 'Delete a bridge, its Alexa client and every link (revoked at the upstream first when it has a revocation URL)',
  usage: 'bridges:delete --name N [--json]',
  options: { name: { type: 'string' } },
  async run(ctx, { values }) {
    const name = requireString(values, 'name');
    const { linksRevoked } = await ctx.services.bridges.delete(name);
    ctx.out(`Deleted the bridge "${name}" and ${linksRevoked} link${linksRevoked === 1 ? '' : 's'}.`, { name, deleted: true, links: linksRevoked });
  },
};

export const bridgeCommands: Command[] = [bridgesCreate, bridgesUpdate, bridgesList, bridgesShow, bridgesDelete];

