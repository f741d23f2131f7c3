import { Knex } from 'knex';
import { ClientFields, OAuthClient, RefreshRotation } from '../domain';

interface ClientRow {
  id: number;
  client_id: string;
  secret_hash: string | null;
  previous_secret_hash: string | null;
  previous_secret_expires_at: Date | null;
  name: string;
  redirect_uris: string[];
  grants: string[];
  scopes: string[];
  require_pkce: boolean;
  allow_implicit: boolean;
  refresh_rotation: RefreshRotation;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  alexa_vendor_id: string | null;
  is_resource_server: boolean;
  created_at: Date;
  updated_at: Date;
}

const toClient = (r: ClientRow): OAuthClient => ({
  id: Number(r.id),
  clientId: r.client_id,
  secretHash: r.secret_hash,
  previousSecretHash: r.previous_secret_hash,
  previousSecretExpiresAt: r.previous_secret_expires_at,
  name: r.name,
  redirectUris: r.redirect_uris,
  grants: r.grants,
  scopes: r.scopes,
  requirePkce: r.require_pkce,
  allowImplicit: r.allow_implicit,
  refreshRotation: r.refresh_rotation,
  accessTokenTtl: r.access_token_ttl,
  refreshTokenTtl: r.refresh_token_ttl,
  alexaVendorId: r.alexa_vendor_id,
  isResourceServer: r.is_resource_server,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

function toRow(f: Partial<ClientFields>): Partial<ClientRow> {
  const row: Partial<ClientRow> = {};
  if (f.clientId !== undefined) row.client_id = f.clientId;
  if (f.secretHash !== undefined) row.secret_hash = f.secretHash;
  if (f.name !== undefined) row.name = f.name;
  if (f.redirectUris !== undefined) row.redirect_uris = f.redirectUris;
  if (f.grants !== undefined) row.grants = f.grants;
  if (f.scopes !== undefined) row.scopes = f.scopes;
  if (f.requirePkce !== undefined) row.require_pkce = f.requirePkce;
  if (f.allowImplicit !== undefined) row.allow_implicit = f.allowImplicit;
  if (f.refreshRotation !== undefined) row.refresh_rotation = f.refreshRotation;
  if (f.accessTokenTtl !== undefined) row.access_token_ttl = f.accessTokenTtl;
  if (f.refreshTokenTtl !== undefined) row.refresh_token_ttl = f.refreshTokenTtl;
  if (f.alexaVendorId !== undefined) row.alexa_vendor_id = f.alexaVendorId;
  if (f.isResourceServer !== undefined) row.is_resource_server = f.isResourceServer;
  return row;
}

/** OAuth clients. Changes take the caller's transaction; the caller announces them (ClientService). */
export class ClientRepository {
  constructor(private readonly db: Knex) {}

  async create(fields: ClientFields): Promise<OAuthClient> {
    const [row] = await this.db<ClientRow>('oauth_clients').insert(toRow(fields)).returning('*');
    return toClient(row as ClientRow);
  }

  async findByClientId(clientId: string): Promise<OAuthClient | undefined> {
    const row = await this.db<ClientRow>('oauth_clients').where({ client_id: clientId }).first();
    return row ? toClient(row) : undefined;
  }

  async findById(id: number): Promise<OAuthClient | undefined> {
    const row = await this.db<ClientRow>('oauth_clients').where({ id }).first();
    return row ? toClient(row) : undefined;
  }

  async findByAlexaVendorId(vendorId: string): Promise<OAuthClient | undefined> {
    const row = await this.db<ClientRow>('oauth_clients').where({ alexa_vendor_id: vendorId }).orderBy('id').first();
    return row ? toClient(row) : undefined;
  }

  async list(): Promise<OAuthClient[]> {
    return (await this.db<ClientRow>('oauth_clients').orderBy('id')).map(toClient);
  }

  async update(trx: Knex.Transaction, id: number, fields: Partial<ClientFields>): Promise<OAuthClient | undefined> {
    const [row] = (await trx('oauth_clients').where({ id }).update({ ...toRow(fields), updated_at: trx.fn.now() }).returning('*')) as ClientRow[];
    return row ? toClient(row) : undefined;
  }

  /** New secret now; the previous one keeps working until `previousValidUntil` (or not at all). */
  async rotateSecret(trx: Knex.Transaction, id: number, secretHash: string, previousValidUntil: Date | null): Promise<OAuthClient | undefined> {
    const [row] = (await trx('oauth_clients')
      .where({ id })
      .update({
        previous_secret_hash: previousValidUntil ? trx.ref('secret_hash') : null,
        previous_secret_expires_at: previousValidUntil,
        secret_hash: secretHash,
        updated_at: trx.fn.now(),
      })
      .returning('*')) as ClientRow[];
    return row ? toClient(row) : undefined;
  }

  /** Deletes the client; its grants, codes and tokens go with it (ON DELETE CASCADE). */
  async delete(trx: Knex.Transaction, id: number): Promise<string | undefined> {
    const rows = (await trx('oauth_clients').where({ id }).delete().returning('client_id')) as Array<{ client_id: string }>;
    return rows[0]?.client_id;
  }
}
