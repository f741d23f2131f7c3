import { Knex } from 'knex';

export type ProviderType = 'oidc' | 'oauth2' | 'amazon';
export type TokenAuthMethod = 'client_secret_post' | 'client_secret_basic';

/** An upstream identity provider as stored; the client secret stays sealed here. */
export interface IdentityProvider {
  id: number;
  name: string;
  displayName: string;
  type: ProviderType;
  issuer: string | null;
  authorizationUrl: string | null;
  tokenUrl: string | null;
  userinfoUrl: string | null;
  clientId: string;
  clientSecretSealed: string | null;
  scope: string;
  tokenAuthMethod: TokenAuthMethod;
  subjectField: string | null;
  emailField: string | null;
  emailVerifiedField: string | null;
  nameField: string | null;
  trustEmail: boolean;
  allowHttp: boolean;
  allowSignup: boolean;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type ProviderFields = Omit<IdentityProvider, 'id' | 'createdAt' | 'updatedAt' | 'clientSecretSealed'>;

export interface UserIdentity {
  id: number;
  userId: number;
  providerId: number;
  subject: string;
  email: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
const toProvider = (r: any): IdentityProvider => ({
  id: Number(r.id),
  name: r.name,
  displayName: r.display_name,
  type: r.type,
  issuer: r.issuer,
  authorizationUrl: r.authorization_url,
  tokenUrl: r.token_url,
  userinfoUrl: r.userinfo_url,
  clientId: r.client_id,
  clientSecretSealed: r.client_secret_sealed,
  scope: r.scope,
  tokenAuthMethod: r.token_auth_method,
  subjectField: r.subject_field,
  emailField: r.email_field,
  emailVerifiedField: r.email_verified_field,
  nameField: r.name_field,
  trustEmail: r.trust_email,
  allowHttp: r.allow_http,
  allowSignup: r.allow_signup,
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toIdentity = (r: any): UserIdentity => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  providerId: Number(r.provider_id),
  subject: r.subject,
  email: r.email,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});
/* eslint-enable @typescript-eslint/no-explicit-any */

const toRow = (p: Partial<ProviderFields>) => {
  const map: Record<keyof ProviderFields, string> = {
    name: 'name',
    displayName: 'display_name',
    type: 'type',
    issuer: 'issuer',
    authorizationUrl: 'authorization_url',
    tokenUrl: 'token_url',
    userinfoUrl: 'userinfo_url',
    clientId: 'client_id',
    scope: 'scope',
    tokenAuthMethod: 'token_auth_method',
    subjectField: 'subject_field',
    emailField: 'email_field',
    emailVerifiedField: 'email_verified_field',
    nameField: 'name_field',
    trustEmail: 'trust_email',
    allowHttp: 'allow_http',
    allowSignup: 'allow_signup',
    enabled: 'enabled',
  };
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined && k in map) row[map[k as keyof ProviderFields]] = v;
  return row;
};

type Db = Knex | Knex.Transaction;

/** identity_providers and user_identities. */
export class IdpRepository {
  constructor(private readonly db: Knex) {}

  transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  async list(): Promise<IdentityProvider[]> {
    return (await this.db('identity_providers').orderBy('id')).map(toProvider);
  }

  async findByName(name: string, db: Db = this.db): Promise<IdentityProvider | undefined> {
    const row = await db('identity_providers').where({ name }).first();
    return row ? toProvider(row) : undefined;
  }

  async findById(id: number, db: Db = this.db): Promise<IdentityProvider | undefined> {
    const row = await db('identity_providers').where({ id }).first();
    return row ? toProvider(row) : undefined;
  }

  /** Inserts the row, then seals the secret with the new id in its AAD, in one transaction. */
  async create(fields: ProviderFields, seal: (id: number) => string | null): Promise<IdentityProvider> {
    return this.db.transaction(async (trx) => {
      const [row] = await trx('identity_providers').insert(toRow(fields)).returning('*');
      const id = Number(row.id);
      const [sealed] = await trx('identity_providers').where({ id }).update({ client_secret_sealed: seal(id) }).returning('*');
      return toProvider(sealed);
    });
  }

  async update(id: number, fields: Partial<ProviderFields>, sealedSecret?: string): Promise<IdentityProvider | undefined> {
    const row = { ...toRow(fields), ...(sealedSecret !== undefined ? { client_secret_sealed: sealedSecret } : {}), updated_at: this.db.fn.now() };
    const [updated] = await this.db('identity_providers').where({ id }).update(row).returning('*');
    return updated ? toProvider(updated) : undefined;
  }

  async remove(id: number): Promise<boolean> {
    return (await this.db('identity_providers').where({ id }).delete()) > 0;
  }

  /**
   * Users who would have no way left to sign in without this provider: no password (the hash
   * column holds NO_PASSWORD, which never starts with `$`) and no identity at another enabled one.
   */
  async usersOnlyReachableThrough(providerId: number): Promise<number> {
    const row = await this.db('user_identities as ui')
      .join('users as u', 'u.id', 'ui.user_id')
      .where('ui.provider_id', providerId)
      .andWhereRaw("u.password_hash NOT LIKE '$%'")
      .whereNotExists((q) =>
        q
          .select(this.db.raw('1'))
          .from('user_identities as o')
          .join('identity_providers as op', 'op.id', 'o.provider_id')
          .whereRaw('o.user_id = ui.user_id')
          .andWhere('o.provider_id', '<>', providerId)
          .andWhere('op.enabled', true),
      )
      .countDistinct<Array<{ count: string | number }>>({ count: 'ui.user_id' });
    return Number(row[0]?.count ?? 0);
  }

  async countIdentities(providerId: number): Promise<number> {
    const row = await this.db('user_identities').where({ provider_id: providerId }).count<Array<{ count: string | number }>>({ count: '*' });
    return Number(row[0]?.count ?? 0);
  }

  async findIdentity(providerId: number, subject: string, db: Db = this.db): Promise<UserIdentity | undefined> {
    const row = await db('user_identities').where({ provider_id: providerId, subject }).first();
    return row ? toIdentity(row) : undefined;
  }

  /** Throws the unique violation (23505) when the provider's subject is already linked. */
  async insertIdentity(identity: { userId: number; providerId: number; subject: string; email: string | null }, db: Db = this.db): Promise<UserIdentity> {
    const [row] = await db('user_identities')
      .insert({ user_id: identity.userId, provider_id: identity.providerId, subject: identity.subject, email: identity.email, last_used_at: db.fn.now() })
      .returning('*');
    return toIdentity(row);
  }

  async touchIdentity(id: number, email: string | null): Promise<void> {
    await this.db('user_identities').where({ id }).update({ last_used_at: this.db.fn.now(), ...(email ? { email } : {}) });
  }

  async identitiesOf(userId: number, db: Db = this.db): Promise<Array<UserIdentity & { providerName: string; providerDisplayName: string; providerEnabled: boolean }>> {
    const rows = await db('user_identities as ui')
      .join('identity_providers as p', 'p.id', 'ui.provider_id')
      .where('ui.user_id', userId)
      .orderBy('ui.id')
      .select('ui.*', 'p.name as provider_name', 'p.display_name as provider_display_name', 'p.enabled as provider_enabled');
    return rows.map((r) => ({ ...toIdentity(r), providerName: r.provider_name, providerDisplayName: r.provider_display_name, providerEnabled: r.provider_enabled }));
  }

  async deleteIdentity(db: Db, userId: number, identityId: number): Promise<boolean> {
    return (await db('user_identities').where({ id: identityId, user_id: userId }).delete()) > 0;
  }

  /** Locks the user's row: removals of a user's sign-ins run one at a time. */
  async lockUser(db: Knex.Transaction, userId: number): Promise<{ passwordHash: string } | undefined> {
    const row = await db('users').where({ id: userId }).forUpdate().first('password_hash');
    return row ? { passwordHash: row.password_hash } : undefined;
  }
}
