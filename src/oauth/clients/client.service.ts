import { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { randomToken, sameDigest, sha256, TOKEN_PREFIX } from '../../lib/crypto';
import { NotFoundError } from '../../lib/errors';
import { parseInput } from '../../lib/validation';
import { BRIDGE_GRANT, ClientFields, isBridgeClient, OAuthClient, RefreshRotation } from '../domain';
import { RevocableCache } from '../revocation/revocable-cache';
import { UnitOfWork } from '../revocation/unit-of-work';
import { ALL_SCOPES, DEFAULT_SCOPES, isKnownScope, sortScopes } from '../scopes';
import { ClientRepository } from './client.repository';
import { redirectUriProblem } from './redirect-uris';

const UNKNOWN_CLIENT_DIGEST = sha256('unknown-client');

const redirectUrisSchema = z
  .array(z.string().trim())
  .min(1, 'Register at least one redirect URI.')
  .max(20, 'Register at most 20 redirect URIs.')
  .superRefine((uris, ctx) => {
    for (const uri of uris) {
      const problem = redirectUriProblem(uri);
      if (problem) ctx.addIssue({ code: 'custom', message: `Redirect URI ${uri.slice(0, 100)} ${problem}.` });
    }
  })
  .transform((uris) => [...new Set(uris)]);

const scopesSchema = z
  .array(z.string())
  .min(1, 'Allow at least one scope.')
  .superRefine((scopes, ctx) => {
    for (const s of scopes) if (!isKnownScope(s)) ctx.addIssue({ code: 'custom', message: `Unknown scope "${s.slice(0, 40)}" (known: ${ALL_SCOPES.join(', ')}).` });
  })
  .transform((s) => sortScopes([...new Set(s)]));

const ttl = (min: number) => z.number().int().min(min).max(10 * 365 * 24 * 3600).nullable();

export const clientInputSchema = z.object({
  name: z.string().trim().min(1, 'Give the client a name.').max(100, 'The name is too long.'),
  redirectUris: redirectUrisSchema,
  scopes: scopesSchema.default([...DEFAULT_SCOPES]),
  isPublic: z.boolean().default(false),
  requirePkce: z.boolean().default(false),
  allowImplicit: z.boolean().default(false),
  refreshRotation: z.enum(['off', 'rotate']).default('off'),
  accessTokenTtl: ttl(360).default(null),
  refreshTokenTtl: ttl(0).default(null),
  alexaVendorId: z.string().nullable().default(null),
  isResourceServer: z.boolean().default(false),
  /** A bridge's Alexa client: usable only at its bridge's endpoints (grants = ['bridge']). */
  bridgeOnly: z.boolean().default(false),
});

export type ClientInput = z.input<typeof clientInputSchema>;

/** A stored client as the input that would make it (the base an update changes). */
function asInput(c: OAuthClient): ClientInput {
  return {
    name: c.name,
    redirectUris: c.redirectUris,
    scopes: c.scopes,
    requirePkce: c.requirePkce,
    allowImplicit: c.allowImplicit,
    refreshRotation: c.refreshRotation,
    accessTokenTtl: c.accessTokenTtl,
    refreshTokenTtl: c.refreshTokenTtl,
    alexaVendorId: c.alexaVendorId,
    isResourceServer: c.isResourceServer,
    bridgeOnly: isBridgeClient(c),
  };
}

export interface CreatedClient {
  client: OAuthClient;
  /** Shown once; only its hash is stored. Undefined for a public client. */
  clientSecret: string | undefined;
}

/** How long a rotated-out secret keeps working, so a running skill can be updated without downtime. */
export const PREVIOUS_SECRET_GRACE_SECONDS = 24 * 3600;

export class ClientService {
  constructor(
    private readonly clients: ClientRepository,
    private readonly cache: RevocableCache<OAuthClient>,
    private readonly uow: UnitOfWork,
  ) {}

  /** Changes a client and announces it in the same transaction, so every process drops its copy. */
  private change(work: (trx: Knex.Transaction) => Promise<OAuthClient | undefined>): Promise<OAuthClient | undefined> {
    return this.uow.run(async (tx) => {
      const client = await work(tx.trx);
      if (client) tx.revoked({ clients: [client.clientId] });
      return client;
    });
  }

  /** The client by client_id, from the cache when this process listens for revocations. */
  private find(clientId: string): Promise<OAuthClient | undefined> {
    return this.cache.getOrLoad(clientId, () => this.clients.findByClientId(clientId));
  }

  list(): Promise<OAuthClient[]> {
    return this.clients.list();
  }

  findById(id: number): Promise<OAuthClient | undefined> {
    return this.clients.findById(id);
  }

  findByClientId(clientId: string): Promise<OAuthClient | undefined> {
    return this.clients.findByClientId(clientId);
  }

  findByAlexaVendorId(vendorId: string): Promise<OAuthClient | undefined> {
    return this.clients.findByAlexaVendorId(vendorId);
  }

  /** Deletes a client and every link, code and token issued to it. */
  delete(id: number): Promise<boolean> {
    return this.uow.run(async (tx) => {
      const clientId = await this.clients.delete(tx.trx, id);
      if (clientId) tx.revoked({ clients: [clientId] });
      return clientId !== undefined;
    });
  }

  async create(input: ClientInput): Promise<CreatedClient> {
    const data = parseInput(clientInputSchema, input);
    const clientSecret = data.isPublic ? undefined : randomToken(TOKEN_PREFIX.clientSecret);
    const client = await this.clients.create({
      ...this.fields(data),
      // Unreserved characters only, so Basic encoding (RFC 6749 §2.3.1) cannot change it.
      clientId: `lbc_${randomBytes(16).toString('base64url')}`,
      secretHash: clientSecret ? sha256(clientSecret) : null,
    });
    return { client, clientSecret };
  }

  /** Changes the fields given; what the form or command does not mention stays as it is. */
  async update(id: number, input: Partial<ClientInput>): Promise<OAuthClient> {
    const existing = await this.clients.findById(id);
    if (!existing) throw new NotFoundError('No such client.');
    const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    const data = parseInput(clientInputSchema, { ...asInput(existing), ...given, isPublic: existing.secretHash === null });
    const updated = await this.change((trx) => this.clients.update(trx, id, this.fields(data)));
    return updated!;
  }

  private fields(data: z.output<typeof clientInputSchema>): Omit<ClientFields, 'clientId' | 'secretHash'> {
    return {
      name: data.name,
      redirectUris: data.redirectUris,
      grants: data.bridgeOnly ? [BRIDGE_GRANT] : ['authorization_code', 'refresh_token', ...(data.allowImplicit ? ['implicit'] : [])],
      scopes: data.scopes,
      // PKCE is always required for public clients (security.md).
      requirePkce: data.requirePkce || data.isPublic,
      allowImplicit: data.allowImplicit,
      // RFC 9700 §4.14.2: a public client's refresh tokens must rotate (they cannot be bound to it).
      refreshRotation: data.isPublic ? 'rotate' : (data.refreshRotation as RefreshRotation),
      accessTokenTtl: data.accessTokenTtl,
      refreshTokenTtl: data.refreshTokenTtl,
      alexaVendorId: data.alexaVendorId,
      // A public client authenticates nothing, so it can never be trusted to introspect (security.md).
      isResourceServer: data.isResourceServer && !data.isPublic,
    };
  }

  /** A new secret, shown once. The previous one keeps working for a day unless `immediately`. */
  async rotateSecret(id: number, opts: { immediately?: boolean } = {}): Promise<{ client: OAuthClient; clientSecret: string }> {
    const existing = await this.clients.findById(id);
    if (!existing) throw new NotFoundError('No such client.');
    if (existing.secretHash === null) throw new NotFoundError('A public client has no secret to rotate.');
    const clientSecret = randomToken(TOKEN_PREFIX.clientSecret);
    const until = opts.immediately ? null : new Date(Date.now() + PREVIOUS_SECRET_GRACE_SECONDS * 1000);
    const client = await this.change((trx) => this.clients.rotateSecret(trx, id, sha256(clientSecret), until));
    return { client: client!, clientSecret };
  }

  /**
   * Client authentication (RFC 6749 §2.3.1). Secrets are server-generated with 256 bits of
   * entropy, so a constant-time SHA-256 comparison is the right check (a slow hash here would cap
   * Alexa's hourly refreshes). Unknown client and wrong secret are indistinguishable.
   */
  async authenticate(clientId: string, clientSecret: string | undefined): Promise<OAuthClient | undefined> {
    const client = clientId.length <= 200 ? await this.find(clientId) : undefined;
    const presented = sha256(clientSecret ?? '');
    if (!client) {
      sameDigest(presented, UNKNOWN_CLIENT_DIGEST); // the same work as for a known client
      return undefined;
    }
    if (client.secretHash === null) return clientSecret === undefined ? client : undefined; // public: no secret
    if (clientSecret === undefined) return undefined;
    if (sameDigest(presented, client.secretHash)) return client;
    if (
      client.previousSecretHash &&
      client.previousSecretExpiresAt &&
      client.previousSecretExpiresAt > new Date() &&
      sameDigest(presented, client.previousSecretHash)
    ) {
      return client;
    }
    return undefined;
  }
}
