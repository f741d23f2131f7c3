import { Knex } from 'knex';
import { Bridge, BridgeFields, BridgeLink, BridgeRequest, EndedBridgeLink } from './bridge.types';

/* Rows as PostgreSQL returns them. */
interface BridgeRow {
  id: number;
  name: string;
  client_id: number;
  vendor_id: string;
  base_url: string;
  authorize_url: string;
  token_url: string;
  revocation_url: string | null;
  upstream_client_id: string;
  upstream_client_secret_sealed: string | null;
  token_auth: 'basic' | 'body';
  token_body: 'form' | 'json';
  fields: Bridge['fields'];
  expires_in_default: number;
  scopes: Bridge['scopes'];
  scope_separator: string;
  authorize_params: Record<string, string>;
  token_params: Record<string, string>;
  pkce: boolean;
  state_echo: boolean;
  implicit: boolean;
  upstream_implicit: boolean;
  allow_http: boolean;
  created_at: Date;
  updated_at: Date;
}

const toBridge = (r: BridgeRow): Bridge => ({
  id: Number(r.id),
  name: r.name,
  clientId: Number(r.client_id),
  vendorId: r.vendor_id,
  baseUrl: r.base_url,
  authorizeUrl: r.authorize_url,
  tokenUrl: r.token_url,
  revocationUrl: r.revocation_url,
  upstreamClientId: r.upstream_client_id,
  upstreamClientSecretSealed: r.upstream_client_secret_sealed,
  tokenAuth: r.token_auth,
  tokenBody: r.token_body,
  fields: r.fields,
  expiresInDefault: r.expires_in_default,
  scopes: r.scopes,
  scopeSeparator: r.scope_separator,
  authorizeParams: r.authorize_params,
  tokenParams: r.token_params,
  pkce: r.pkce,
  stateEcho: r.state_echo,
  implicit: r.implicit,
  upstreamImplicit: r.upstream_implicit,
  allowHttp: r.allow_http,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRow = (b: Partial<BridgeFields>) => {
  const row: Record<string, unknown> = {
    name: b.name,
    client_id: b.clientId,
    vendor_id: b.vendorId,
    base_url: b.baseUrl,
    authorize_url: b.authorizeUrl,
    token_url: b.tokenUrl,
    revocation_url: b.revocationUrl,
    upstream_client_id: b.upstreamClientId,
    upstream_client_secret_sealed: b.upstreamClientSecretSealed,
    token_auth: b.tokenAuth,
    token_body: b.tokenBody,
    fields: b.fields === undefined ? undefined : JSON.stringify(b.fields),
    expires_in_default: b.expiresInDefault,
    scopes: b.scopes === undefined ? undefined : JSON.stringify(b.scopes),
    scope_separator: b.scopeSeparator,
    authorize_params: b.authorizeParams === undefined ? undefined : JSON.stringify(b.authorizeParams),
    token_params: b.tokenParams === undefined ? undefined : JSON.stringify(b.tokenParams),
    pkce: b.pkce,
    state_echo: b.stateEcho,
    implicit: b.implicit,
    upstream_implicit: b.upstreamImplicit,
    allow_http: b.allowHttp,
  };
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined));
};

interface LinkRow {
  id: number;
  bridge_id: number;
  grant_id: number;
  user_id: number;
  scope: string[];
  access_token_sealed: string;
  access_expires_at: Date;
  refresh_token_sealed: string | null;
  handle_hash: string | null;
  last_refreshed_at: Date | null;
  lease_id: string | null;
  lease_until: Date | null;
  ended_at: Date | null;
  ended_reason: string | null;
  grant_revoked_at: Date | null;
  user_disabled_at: Date | null;
}

const toLink = (r: LinkRow): BridgeLink => ({
  id: Number(r.id),
  bridgeId: Number(r.bridge_id),
  grantId: Number(r.grant_id),
  userId: Number(r.user_id),
  scope: r.scope,
  accessTokenSealed: r.access_token_sealed,
  accessExpiresAt: r.access_expires_at,
  refreshTokenSealed: r.refresh_token_sealed,
  hasHandle: r.handle_hash !== null,
  lastRefreshedAt: r.last_refreshed_at,
  leaseId: r.lease_id,
  leaseUntil: r.lease_until,
  endedAt: r.ended_at,
  endedReason: r.ended_reason,
  grantRevokedAt: r.grant_revoked_at,
  userDisabledAt: r.user_disabled_at,
});

/** A link with the liveness of its grant and user (one query, as the token endpoint needs it). */
const LINK_SELECT = `SELECT l.*, g.revoked_at AS grant_revoked_at, u.disabled_at AS user_disabled_at
  FROM bridge_links l JOIN oauth_grants g ON g.id = l.grant_id JOIN users u ON u.id = l.user_id`;

export interface NewLink {
  bridgeId: number;
  grantId: number;
  userId: number;
  scope: string[];
  accessTokenHash: string;
  accessExpiresAt: Date;
}

/** Bridges, their pending authorizations, links and codes. Only this file speaks SQL for them. */
export class BridgeRepository {
  constructor(private readonly db: Knex) {}

  transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  // Bridges.

  async create(trx: Knex.Transaction, fields: BridgeFields): Promise<Bridge> {
    const [row] = (await trx('bridges').insert(toRow(fields)).returning('*')) as BridgeRow[];
    return toBridge(row);
  }

  async update(trx: Knex.Transaction | undefined, id: number, fields: Partial<BridgeFields>): Promise<Bridge | undefined> {
    const db = trx ?? this.db;
    const [row] = (await db('bridges').where({ id }).update({ ...toRow(fields), updated_at: db.fn.now() }).returning('*')) as BridgeRow[];
    return row ? toBridge(row) : undefined;
  }

  async findByName(name: string): Promise<Bridge | undefined> {
    const row = await this.db<BridgeRow>('bridges').where({ name }).first();
    return row ? toBridge(row) : undefined;
  }

  async findById(id: number): Promise<Bridge | undefined> {
    const row = await this.db<BridgeRow>('bridges').where({ id }).first();
    return row ? toBridge(row) : undefined;
  }

  async list(): Promise<Bridge[]> {
    return ((await this.db<BridgeRow>('bridges').orderBy('name')) as BridgeRow[]).map(toBridge);
  }

  async countLiveLinks(bridgeId: number): Promise<number> {
    const [{ n }] = await this.db('bridge_links as l')
      .join('oauth_grants as g', 'g.id', 'l.grant_id')
      .where('l.bridge_id', bridgeId)
      .whereNull('l.ended_at')
      .whereNull('g.revoked_at')
      .count<{ n: string }[]>({ n: '*' });
    return Number(n);
  }

  // Pending authorizations.

  async createTransaction(idHash: string, bridgeId: number, userId: number, request: BridgeRequest, verifierSealed: string | null, expiresAt: Date): Promise<void> {
    await this.db('bridge_transactions').insert({ id_hash: idHash, bridge_id: bridgeId, user_id: userId, request: JSON.stringify(request), pkce_verifier_sealed: verifierSealed, expires_at: expiresAt });
  }

  /** Consumes a pending authorization exactly once, for its bridge and user, while it is fresh. */
  async consumeTransaction(idHash: string, bridgeId: number, userId: number): Promise<{ id: number; request: BridgeRequest; verifierSealed: string | null } | undefined> {
    const [row] = (await this.db('bridge_transactions')
      .where({ id_hash: idHash, bridge_id: bridgeId, user_id: userId })
      .whereNull('used_at')
      .where('expires_at', '>', this.db.fn.now())
      .update({ used_at: this.db.fn.now() })
      .returning(['id', 'request', 'pkce_verifier_sealed'])) as Array<{ id: number; request: BridgeRequest; pkce_verifier_sealed: string | null }>;
    return row ? { id: Number(row.id), request: row.request, verifierSealed: row.pkce_verifier_sealed } : undefined;
  }

  // Links.

  /** A new link; the grant's earlier live links are ended (re-linking replaces the tokens). Sealed values are set after, they name the row. */
  async insertLink(trx: Knex.Transaction, link: NewLink): Promise<number> {
    await trx('bridge_links').where({ grant_id: link.grantId }).whereNull('ended_at').update({ ended_at: trx.fn.now(), ended_reason: 'relinked', updated_at: trx.fn.now() });
    const [row] = (await trx('bridge_links')
      .insert({
        bridge_id: link.bridgeId,
        grant_id: link.grantId,
        user_id: link.userId,
        scope: link.scope,
        access_token_sealed: '',
        access_token_hash: link.accessTokenHash,
        access_expires_at: link.accessExpiresAt,
      })
      .returning('id')) as Array<{ id: number }>;
    return Number(row.id);
  }

  async setLinkSecrets(trx: Knex.Transaction, id: number, accessTokenSealed: string, refreshTokenSealed: string | null): Promise<void> {
    await trx('bridge_links').where({ id }).update({ access_token_sealed: accessTokenSealed, refresh_token_sealed: refreshTokenSealed });
  }

  async findLink(id: number): Promise<BridgeLink | undefined> {
    const { rows } = await this.db.raw<{ rows: LinkRow[] }>(`${LINK_SELECT} WHERE l.id = ?`, [id]);
    return rows[0] ? toLink(rows[0]) : undefined;
  }

  async findLinkByHandle(bridgeId: number, handleHash: string): Promise<BridgeLink | undefined> {
    const { rows } = await this.db.raw<{ rows: LinkRow[] }>(`${LINK_SELECT} WHERE l.handle_hash = ? AND l.bridge_id = ?`, [handleHash, bridgeId]);
    return rows[0] ? toLink(rows[0]) : undefined;
  }

  /** Gives the link its refresh handle, once (the code exchange). */
  async setHandle(trx: Knex.Transaction, id: number, handleHash: string): Promise<void> {
    await trx('bridge_links').where({ id }).whereNull('handle_hash').update({ handle_hash: handleHash, updated_at: trx.fn.now() });
  }

  /**
   * Takes the link's refresh lease if nobody holds a live one: one conditional UPDATE, atomic in
   * every process. Returns false while another request (here or in another process) refreshes.
   */
  async claimLease(id: number, leaseId: string, seconds: number): Promise<boolean> {
    const n = await this.db('bridge_links')
      .where({ id })
      .whereNull('ended_at')
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', this.db.fn.now()))
      .update({ lease_id: leaseId, lease_until: this.db.raw(`now() + make_interval(secs => ?)`, [seconds]) });
    return n === 1;
  }

  async releaseLease(id: number, leaseId: string): Promise<void> {
    await this.db('bridge_links').where({ id, lease_id: leaseId }).update({ lease_id: null, lease_until: null });
  }

  /** Stores a refresh's result and releases the lease in one statement; false if the lease was lost. */
  async storeRefreshed(id: number, leaseId: string, v: { accessTokenSealed: string; accessTokenHash: string; accessExpiresAt: Date; refreshTokenSealed: string | null }): Promise<boolean> {
    const n = await this.db('bridge_links')
      .where({ id, lease_id: leaseId })
      .update({
        access_token_sealed: v.accessTokenSealed,
        access_token_hash: v.accessTokenHash,
        access_expires_at: v.accessExpiresAt,
        ...(v.refreshTokenSealed !== null ? { refresh_token_sealed: v.refreshTokenSealed } : {}),
        last_refreshed_at: this.db.fn.now(),
        lease_id: null,
        lease_until: null,
        updated_at: this.db.fn.now(),
      });
    return n === 1;
  }

  /** Keeps a rotated refresh token from an answer that was otherwise unusable (the lease stays the caller's). */
  async storeRotatedOnly(id: number, leaseId: string, refreshTokenSealed: string): Promise<void> {
    await this.db('bridge_links').where({ id, lease_id: leaseId }).update({ refresh_token_sealed: refreshTokenSealed, updated_at: this.db.fn.now() });
  }

  /** Ends a live link; returns whether this call ended it (so side effects run once). */
  async endLink(trx: Knex.Transaction | undefined, id: number, reason: string): Promise<boolean> {
    const db = trx ?? this.db;
    const n = await db('bridge_links').where({ id }).whereNull('ended_at').update({ ended_at: db.fn.now(), ended_reason: reason, lease_id: null, lease_until: null, updated_at: db.fn.now() });
    return n === 1;
  }

  /**
   * Ends every live link of the user in the caller's transaction (account deletion, before the
   * rows go with the user) and returns them, sealed tokens included, for the upstream revocation
   * after the commit.
   */
  async endLinksOfUser(trx: Knex.Transaction, userId: number, reason: string): Promise<BridgeLink[]> {
    const rows = (await trx('bridge_links')
      .where({ user_id: userId })
      .whereNull('ended_at')
      .update({ ended_at: trx.fn.now(), ended_reason: reason, lease_id: null, lease_until: null, updated_at: trx.fn.now() })
      .returning('*')) as LinkRow[];
    return rows.map((r) => toLink({ ...r, grant_revoked_at: null, user_disabled_at: null }));
  }

  async markUpstreamRevoked(id: number): Promise<void> {
    await this.db('bridge_links').where({ id }).update({ upstream_revoked_at: this.db.fn.now() });
  }

  /** The grant a live upstream access token belongs to, for the client's bridges (SkillAccountLinked). */
  async grantForAccessToken(clientId: number, accessTokenHash: string): Promise<number | undefined> {
    const row = await this.db('bridge_links as l')
      .join('bridges as b', 'b.id', 'l.bridge_id')
      .join('oauth_grants as g', 'g.id', 'l.grant_id')
      .where({ 'b.client_id': clientId, 'l.access_token_hash': accessTokenHash })
      .whereNull('l.ended_at')
      .whereNull('g.revoked_at')
      .first('l.grant_id');
    return row ? Number(row.grant_id) : undefined;
  }

  /** Links whose grant was revoked (Connected apps, SkillDisabled, ...) but that are not ended yet. */
  async linksOfRevokedGrants(limit: number): Promise<BridgeLink[]> {
    const { rows } = await this.db.raw<{ rows: LinkRow[] }>(`${LINK_SELECT} WHERE l.ended_at IS NULL AND g.revoked_at IS NOT NULL ORDER BY l.id LIMIT ?`, [limit]);
    return rows.map(toLink);
  }

  async liveLinksOfBridge(bridgeId: number): Promise<BridgeLink[]> {
    const { rows } = await this.db.raw<{ rows: LinkRow[] }>(`${LINK_SELECT} WHERE l.bridge_id = ? AND l.ended_at IS NULL AND g.revoked_at IS NULL`, [bridgeId]);
    return rows.map(toLink);
  }

  /** Links the upstream ended for this user (its invalid_grant), newest first, for Connected apps. */
  async endedByUpstreamForUser(userId: number, since: Date): Promise<EndedBridgeLink[]> {
    const rows = await this.db('bridge_links as l')
      .join('bridges as b', 'b.id', 'l.bridge_id')
      .join('oauth_clients as c', 'c.id', 'b.client_id')
      .where('l.user_id', userId)
      .where('l.ended_reason', 'upstream_invalid_grant')
      .where('l.ended_at', '>', since)
      .orderBy('l.ended_at', 'desc')
      .limit(20)
      .select('l.id', 'c.name', 'b.authorize_url', 'l.ended_at', 'l.ended_reason');
    return rows.map((r: { id: number; name: string; authorize_url: string; ended_at: Date; ended_reason: string }) => ({
      linkId: Number(r.id),
      clientName: r.name,
      upstreamHost: new URL(r.authorize_url).host,
      endedAt: r.ended_at,
      reason: r.ended_reason,
    }));
  }

  // Codes.

  async insertCode(trx: Knex.Transaction, codeHash: string, linkId: number, redirectUri: string, codeChallenge: string | null, expiresAt: Date): Promise<void> {
    await trx('bridge_codes').insert({ code_hash: codeHash, link_id: linkId, redirect_uri: redirectUri, code_challenge: codeChallenge, expires_at: expiresAt });
  }

  /**
   * Consumes a code exactly once (of N parallel redemptions one wins). `replayed`: the code was
   * already used, so the caller ends what was issued from it (RFC 6749 §4.1.2).
   */
  async consumeCode(
    codeHash: string,
  ): Promise<{ linkId: number; bridgeId: number; userId: number; grantId: number; redirectUri: string; codeChallenge: string | null; expired: boolean; replayed: boolean } | undefined> {
    const [won] = (await this.db('bridge_codes')
      .where({ code_hash: codeHash })
      .whereNull('consumed_at')
      .update({ consumed_at: this.db.fn.now() })
      .returning(['link_id', 'redirect_uri', 'code_challenge', 'expires_at'])) as Array<{ link_id: number; redirect_uri: string; code_challenge: string | null; expires_at: Date }>;
    const row = won ?? (await this.db('bridge_codes').where({ code_hash: codeHash }).first('link_id', 'redirect_uri', 'code_challenge', 'expires_at'));
    if (!row) return undefined;
    const link = await this.db('bridge_links').where({ id: row.link_id }).first('bridge_id', 'user_id', 'grant_id');
    return {
      linkId: Number(row.link_id),
      bridgeId: Number(link.bridge_id),
      userId: Number(link.user_id),
      grantId: Number(link.grant_id),
      redirectUri: row.redirect_uri,
      codeChallenge: row.code_challenge,
      expired: new Date(row.expires_at).getTime() <= Date.now(),
      replayed: !won,
    };
  }

  /** Old pending authorizations and used or expired codes (the cleanup job may call this). */
  async deleteExpired(before: Date): Promise<number> {
    const a = await this.db('bridge_transactions').where('expires_at', '<', before).delete();
    const b = await this.db('bridge_codes').where('expires_at', '<', before).delete();
    return a + b;
  }
}
