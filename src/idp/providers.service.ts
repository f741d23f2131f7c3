import { z } from 'zod';
import { AppError, NotFoundError, ValidationError } from '../lib/errors';
import { SecretBox } from '../lib/secret-box';
import { parseInput } from '../lib/validation';
import { IdentityProvider, IdpRepository, ProviderFields, ProviderType } from './idp.repository';
import { callbackUrl, isLoopbackUrl } from './upstream';

/** Login with Amazon's documented endpoints (developer.amazon.com, "Login with Amazon"): every one overridable. */
export const AMAZON_PRESET = {
  displayName: 'Amazon',
  authorizationUrl: 'https://www.amazon.com/ap/oa',
  tokenUrl: 'https://api.amazon.com/auth/o2/token',
  userinfoUrl: 'https://api.amazon.com/user/profile',
  scope: 'profile',
  subjectField: 'user_id',
  emailField: 'email',
  // LWA's profile says nothing about verification: with no such field, an Amazon email is never
  // "verified" to us, and matching a local account by it always asks for that account's password.
  emailVerifiedField: null,
  nameField: 'name',
} as const;

export const PROVIDER_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const FIELD = /^[A-Za-z0-9_.:-]{1,100}$/;

/** What the CLI and the admin form send. Unset fields: the type's defaults on create, unchanged on update. */
export interface ProviderInput {
  name?: string;
  displayName?: string;
  type?: string;
  issuer?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  clientId?: string;
  clientSecret?: string;
  scope?: string;
  tokenAuthMethod?: string;
  subjectField?: string;
  emailField?: string;
  emailVerifiedField?: string;
  nameField?: string;
  trustEmail?: boolean;
  allowHttp?: boolean;
  allowSignup?: boolean;
  enabled?: boolean;
}

const url = z.string().trim().max(2048, 'is too long').refine((u) => {
  try {
    const p = new URL(u);
    return (p.protocol === 'https:' || p.protocol === 'http:') && !p.username && !p.password && !p.hash;
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL without credentials or fragment');
const field = z.string().trim().regex(FIELD, 'must be a JSON field name (letters, digits, _ . : -)');

const schema = z
  .object({
    name: z.string().trim().regex(PROVIDER_NAME, 'must be 1-40 lower-case letters, digits or dashes, starting with a letter or digit'),
    displayName: z.string().trim().min(1, 'is required').max(60, 'is too long').refine((s) => !/[\u0000-\u001f]/.test(s), 'has control characters'),
    type: z.enum(['oidc', 'oauth2', 'amazon'], 'must be oidc, oauth2 or amazon'),
    issuer: url.nullable(),
    authorizationUrl: url.nullable(),
    tokenUrl: url.nullable(),
    userinfoUrl: url.nullable(),
    clientId: z.string().trim().min(1, 'is required').max(255, 'is too long').refine((s) => /^[\x21-\x7E]+$/.test(s), 'must be printable ASCII without spaces'),
    scope: z
      .string()
      .trim()
      .max(500, 'is too long')
      .refine((s) => s.split(/ +/).every((t) => SCOPE_TOKEN.test(t)), 'must be space-separated scope names'),
    tokenAuthMethod: z.enum(['client_secret_post', 'client_secret_basic'], 'must be client_secret_post or client_secret_basic'),
    subjectField: field.nullable(),
    emailField: field.nullable(),
    emailVerifiedField: field.nullable(),
    nameField: field.nullable(),
    trustEmail: z.boolean(),
    allowHttp: z.boolean(),
    allowSignup: z.boolean(),
    enabled: z.boolean(),
  })
  .superRefine((p, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (p.type === 'oidc') {
      if (!p.issuer) issue('issuer', '--issuer is required for an OpenID Connect provider');
      if (!p.scope.split(' ').includes('openid')) issue('scope', 'must include openid for an OpenID Connect provider');
    } else {
      if (!p.authorizationUrl) issue('authorizationUrl', '--authorization-url is required');
      if (!p.tokenUrl) issue('tokenUrl', '--token-url is required');
      if (!p.userinfoUrl) issue('userinfoUrl', '--userinfo-url is required (the profile of the signed-in user)');
      if (!p.subjectField) issue('subjectField', '--subject-field is required');
    }
    // http:// only with --allow-http, and then only to this machine (tests, local stand-ins).
    for (const [key, value] of [['issuer', p.issuer], ['authorizationUrl', p.authorizationUrl], ['tokenUrl', p.tokenUrl], ['userinfoUrl', p.userinfoUrl]] as const) {
      if (!value) continue;
      if (value.startsWith('http:') && !p.allowHttp) issue(key, 'must be https:// (http:// needs --allow-http, for loopback test upstreams only)');
      if (p.allowHttp && !isLoopbackUrl(value)) issue(key, '--allow-http is for loopback upstreams only (127.0.0.1, [::1], localhost)');
    }
  });

const orNull = (v: string | undefined | null) => (v === undefined ? undefined : v === null || v.trim() === '' ? null : v);

/** What the admin sees of a provider: never the secret. */
export interface ProviderView extends Omit<IdentityProvider, 'clientSecretSealed'> {
  hasSecret: boolean;
  callbackUrl: string;
}

export class ProviderService {
  constructor(
    private readonly repo: IdpRepository,
    private readonly secrets: SecretBox | undefined,
    private readonly publicUrl: string,
  ) {}

  view(p: IdentityProvider): ProviderView {
    const { clientSecretSealed, ...rest } = p;
    return { ...rest, hasSecret: clientSecretSealed !== null, callbackUrl: callbackUrl(this.publicUrl, p.name) };
  }

  async list(): Promise<ProviderView[]> {
    return (await this.repo.list()).map((p) => this.view(p));
  }

  async enabled(): Promise<IdentityProvider[]> {
    return (await this.repo.list()).filter((p) => p.enabled);
  }

  async get(name: unknown): Promise<IdentityProvider> {
    const p = typeof name === 'string' && PROVIDER_NAME.test(name) ? await this.repo.findByName(name) : undefined;
    if (!p) throw new NotFoundError(`No sign-in provider named ${typeof name === 'string' ? name.slice(0, 40) : ''}.`);
    return p;
  }

  /** The client secret in clear, to call the upstream with. */
  secretOf(p: IdentityProvider): string {
    if (!p.clientSecretSealed) return '';
    return this.box().open(p.clientSecretSealed, aad(p.id));
  }

  async create(input: ProviderInput): Promise<ProviderView> {
    const type = (input.type ?? '') as ProviderType;
    const preset = type === 'amazon' ? AMAZON_PRESET : undefined;
    const defaults: ProviderFields = {
      name: input.name ?? '',
      displayName: preset?.displayName ?? input.name ?? '',
      type,
      issuer: null,
      authorizationUrl: preset?.authorizationUrl ?? null,
      tokenUrl: preset?.tokenUrl ?? null,
      userinfoUrl: preset?.userinfoUrl ?? null,
      clientId: '',
      scope: preset?.scope ?? (type === 'oidc' ? 'openid email profile' : ''),
      tokenAuthMethod: 'client_secret_post',
      subjectField: preset?.subjectField ?? (type === 'oauth2' ? 'sub' : null),
      emailField: preset?.emailField ?? (type === 'oauth2' ? 'email' : null),
      emailVerifiedField: preset ? preset.emailVerifiedField : type === 'oauth2' ? 'email_verified' : null,
      nameField: preset?.nameField ?? (type === 'oauth2' ? 'name' : null),
      trustEmail: false,
      allowHttp: false,
      allowSignup: true,
      enabled: true,
    };
    const fields = this.parse({ ...defaults, ...definedOf(input) });
    if (typeof input.clientSecret !== 'string' || input.clientSecret === '') throw new ValidationError('The client secret is required (--client-secret-stdin).', { clientSecret: 'is required' });
    const secret = checkSecret(input.clientSecret);
    const box = this.box();
    if (await this.repo.findByName(fields.name)) throw new ValidationError(`A provider named ${fields.name} already exists.`, { name: 'is taken' });
    try {
      return this.view(await this.repo.create(fields, (id) => box.seal(secret, aad(id))));
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ValidationError(`A provider named ${fields.name} already exists.`, { name: 'is taken' });
      throw err;
    }
  }

  async update(name: unknown, input: ProviderInput): Promise<ProviderView> {
    const current = await this.get(name);
    if (input.type !== undefined && input.type !== current.type) throw new ValidationError('The type of a provider cannot change: add another one.', { type: 'cannot change' });
    if (input.name !== undefined && input.name !== current.name) throw new ValidationError('The name of a provider cannot change (it is in the callback URL registered upstream).', { name: 'cannot change' });
    const { clientSecretSealed: _sealed, id: _id, createdAt: _c, updatedAt: _u, ...fields } = current;
    const next = this.parse({ ...fields, ...definedOf(input) });
    const sealed = input.clientSecret !== undefined ? this.box().seal(checkSecret(input.clientSecret), aad(current.id)) : undefined;
    const updated = await this.repo.update(current.id, next, sealed);
    if (!updated) throw new NotFoundError();
    return this.view(updated);
  }

  /**
   * Removes a provider and its linked identities. Refused while that would leave some user with
   * no way to sign in, unless `force` (disabling is the gentle alternative: it keeps them).
   */
  async remove(name: unknown, opts: { force?: boolean } = {}): Promise<{ removed: string; identitiesRemoved: number }> {
    const p = await this.get(name);
    const stranded = await this.repo.usersOnlyReachableThrough(p.id);
    if (stranded > 0 && !opts.force) {
      throw new AppError(409, 'conflict', `${stranded} user(s) can sign in only through ${p.name}: disable it instead (idps:update --name ${p.name} --disable), or remove it with --force.`);
    }
    const identitiesRemoved = await this.repo.countIdentities(p.id);
    await this.repo.remove(p.id);
    return { removed: p.name, identitiesRemoved };
  }

  private parse(fields: Record<string, unknown>): ProviderFields {
    const f = { ...fields };
    for (const k of ['issuer', 'authorizationUrl', 'tokenUrl', 'userinfoUrl', 'subjectField', 'emailField', 'emailVerifiedField', 'nameField']) {
      f[k] = orNull(f[k] as string | undefined | null) ?? null;
    }
    if (typeof f.scope === 'string') f.scope = f.scope.trim().split(/\s+/).filter(Boolean).join(' ');
    if (f.issuer && typeof f.issuer === 'string') f.issuer = f.issuer.trim();
    return parseInput(schema, f) as ProviderFields;
  }

  private box(): SecretBox {
    if (!this.secrets) throw new AppError(503, 'not_configured', 'ENCRYPTION_KEYS is not configured: upstream client secrets cannot be stored or read.');
    return this.secrets;
  }
}

const aad = (id: number) => `idp:${id}:client_secret`;

function checkSecret(secret: string): string {
  const s = secret.replace(/\r?\n$/, '');
  if (!s || s.length > 1024 || /[\u0000-\u001f]/.test(s)) throw new ValidationError('The client secret must be 1-1024 printable characters.', { clientSecret: 'is not valid' });
  return s;
}

function definedOf(input: ProviderInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined && k !== 'clientSecret') out[k] = v;
  return out;
}
