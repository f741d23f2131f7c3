import { Knex } from 'knex';
import { AccessTokenInfo } from './bearer';
import { HotQueries } from '../db/hot-queries';
import { RevocationBus } from './revocation-bus';

type Db = Knex | Knex.Transaction;

export interface AuthorizationCode {
  id: number;
  grantId: number;
  clientId: number;
  userId: number;
  redirectUri: string;
  redirectUriInRequest: boolean;
  scope: string[];
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  expiresAt: Date;
  consumedAt: Date | null;
  grantRevokedAt: Date | null;
  userDisabledAt: Date | null;
}

export interface RefreshToken {
  id: number;
  grantId: number;
  clientId: number;
  userId: number;
  authorizationCodeId: number | null;
  scope: string[];
  expiresAt: Date | null;
  rotatedAt: Date | null;
  revokedAt: Date | null;
  grantRevokedAt: Date | null;
  userDisabledAt: Date | null;
}

export interface NewAccessToken {
  tokenHash: string;
  grantId: number;
  refreshTokenId: number | null;
  authorizationCodeId: number | null;
  scope: string[];
  expiresAt: Date;
}

export interface NewRefreshToken {
  tokenHash: string;
  grantId: number;
  authorizationCodeId: number | null;
  scope: string[];
  expiresAt: Date | null;
}

/** Codes and tokens, always looked up by the SHA-256 hash of the presented value. */
export class TokenRepository {
  constructor(
    private readonly db: Knex,
    private readonly bus: RevocationBus,
    private readonly hot: HotQueries,
  ) {}

  async insertCode(
    c: { codeHash: string; grantId: number; redirectUri: string; redirectUriInRequest: boolean; scope: string[]; codeChallenge: string | null; codeChallengeMethod: string | null; expiresAt: Date },
    trx: Db = this.db,
  ): Promise<number> {
    const [row] = await trx('oauth_authorization_codes')
      .insert({
        code_hash: c.codeHash,
        grant_id: c.grantId,
        redirect_uri: c.redirectUri,
        redirect_uri_in_request: c.redirectUriInRequest,
        scope: c.scope,
        code_challenge: c.codeChallenge,
        code_challenge_method: c.codeChallengeMethod,
        expires_at: c.expiresAt,
      })
      .returning('id');
    return Number((row as { id: number }).id);
  }

  /** Locks the code's row (FOR UPDATE): of N parallel redemptions exactly one sees it unconsumed. */
  async findCodeForUpdate(codeHash: string, trx: Knex.Transaction): Promise<AuthorizationCode | undefined> {
    return this.findCode(codeHash, trx, true);
  }

  /** A code or refresh token row by hash, with its grant's client, user and liveness. */
  private async findWithGrant(table: 'oauth_authorization_codes' | 'oauth_refresh_tokens', column: string, hash: string, db: Db, forUpdate: boolean) {
    const { rows } = await db.raw<{ rows: Array<Record<string, unknown>> }>(
      `SELECT x.*, g.client_id AS g_client_id, g.user_id AS g_user_id, g.revoked_at AS g_revoked_at, u.disabled_at AS u_disabled_at
         FROM ${table} x
         JOIN oauth_grants g ON g.id = x.grant_id
         JOIN users u ON u.id = g.user_id
        WHERE x.${column} = ?${forUpdate ? ' FOR UPDATE OF x' : ''}`,
      [hash],
    );
    return rows[0];
  }

  async findCode(codeHash: string, db: Db = this.db, forUpdate = false): Promise<AuthorizationCode | undefined> {
    const r = await this.findWithGrant('oauth_authorization_codes', 'code_hash', codeHash, db, forUpdate);
    if (!r) return undefined;
    return {
      id: Number(r.id),
      grantId: Number(r.grant_id),
      clientId: Number(r.g_client_id),
      userId: Number(r.g_user_id),
      redirectUri: r.redirect_uri as string,
      redirectUriInRequest: r.redirect_uri_in_request as boolean,
      scope: r.scope as string[],
      codeChallenge: r.code_challenge as string | null,
      codeChallengeMethod: r.code_challenge_method as string | null,
      expiresAt: r.expires_at as Date,
      consumedAt: r.consumed_at as Date | null,
      grantRevokedAt: r.g_revoked_at as Date | null,
      userDisabledAt: r.u_disabled_at as Date | null,
    };
  }

  /**
   * Consumes a code and issues its token pair in one statement (one round trip, atomic). Returns
   * false when the code was consumed meanwhile: the caller then takes the locked path, which
   * handles the replay.
   */
  async redeemCodeInOneStatement(p: { codeId: number; refresh: NewRefreshToken; access: NewAccessToken }): Promise<boolean> {
    const rows = await this.hot.query(
      'lb_redeem_code',
      `WITH c AS (
         UPDATE oauth_authorization_codes SET consumed_at = now()
          WHERE id = $1 AND consumed_at IS NULL
          RETURNING id, grant_id, scope
       ), nrt AS (
         INSERT INTO oauth_refresh_tokens (token_hash, grant_id, authorization_code_id, scope, expires_at)
         SELECT $2, c.grant_id, c.id, c.scope, $3::timestamptz FROM c
         RETURNING id
       ), nat AS (
         INSERT INTO oauth_access_tokens (token_hash, grant_id, refresh_token_id, authorization_code_id, scope, expires_at)
         SELECT $4, c.grant_id, nrt.id, c.id, c.scope, $5 FROM c, nrt
         RETURNING id
       )
       SELECT nat.id FROM nat`,
      [p.codeId, p.refresh.tokenHash, p.refresh.expiresAt, p.access.tokenHash, p.access.expiresAt],
    );
    return rows.length === 1;
  }

  /**
   * The refresh grant in one statement when every rule passes: the token is live, belongs to the
   * client, covers the requested scope and (rotation) is not past its grace window. Under rotation
   * the token row is locked, a new pair is issued and the old token marked rotated, all at once.
   * Returns undefined when any rule fails: the caller takes the locked path for the exact error.
   */
  async refreshInOneStatement(p: {
    refreshHash: string;
    clientId: number;
    scope: string[] | null;
    access: { tokenHash: string; expiresAt: Date };
    graceSeconds: number;
    rotate?: { tokenHash: string; expiresAt: Date | null };
  }): Promise<{ userId: number; grantId: number; scope: string[]; refreshExpiresAt: Date | null } | undefined> {
    // $1 refresh hash, $2 client, $3 requested scope (NULL: all), $4 access hash, $5 access expiry,
    // $6 grace seconds (a token rotated longer ago is dead, whatever the client's policy is now)
    const live = `r.token_hash = $1 AND g.client_id = $2
                  AND r.revoked_at IS NULL AND g.revoked_at IS NULL AND u.disabled_at IS NULL
                  AND (r.expires_at IS NULL OR r.expires_at > now())
                  AND ($3::text[] IS NULL OR $3::text[] <@ r.scope)
                  AND (r.rotated_at IS NULL OR r.rotated_at > now() - make_interval(secs => $6))`;
    const from = 'FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id JOIN users u ON u.id = g.user_id';
    type Row = { user_id: number; grant_id: number; scope: string[]; refresh_expires_at: Date | null };
    const rows = !p.rotate
      ? await this.hot.query<Row>(
          'lb_refresh_keep',
          `WITH rt AS (
             SELECT r.id, r.grant_id, r.authorization_code_id, r.scope, r.expires_at, g.user_id ${from} WHERE ${live}
           ), nat AS (
             INSERT INTO oauth_access_tokens (token_hash, grant_id, refresh_token_id, authorization_code_id, scope, expires_at)
             SELECT $4, rt.grant_id, rt.id, rt.authorization_code_id, COALESCE($3::text[], rt.scope), $5 FROM rt
             RETURNING scope
           )
           SELECT rt.user_id, rt.grant_id, nat.scope, rt.expires_at AS refresh_expires_at FROM rt, nat`,
          [p.refreshHash, p.clientId, p.scope, p.access.tokenHash, p.access.expiresAt, p.graceSeconds],
        )
      : await this.hot.query<Row>(
          'lb_refresh_rotate',
          // $7 new refresh hash, $8 new refresh expiry
          `WITH rt AS (
             SELECT r.id, r.grant_id, r.authorization_code_id, r.scope, g.user_id ${from}
              WHERE ${live}
              FOR UPDATE OF r
           ), nrt AS (
             INSERT INTO oauth_refresh_tokens (token_hash, grant_id, authorization_code_id, scope, expires_at)
             SELECT $7, rt.grant_id, rt.authorization_code_id, rt.scope, $8::timestamptz FROM rt
             RETURNING id, expires_at
           ), nat AS (
             INSERT INTO oauth_access_tokens (token_hash, grant_id, refresh_token_id, authorization_code_id, scope, expires_at)
             SELECT $4, rt.grant_id, nrt.id, rt.authorization_code_id, COALESCE($3::text[], rt.scope), $5 FROM rt, nrt
             RETURNING scope
           ), rotated AS (
             UPDATE oauth_refresh_tokens o SET rotated_at = now(), replaced_by_id = nrt.id
               FROM rt, nrt
              WHERE o.id = rt.id AND o.rotated_at IS NULL
             RETURNING o.id
           )
           SELECT rt.user_id, rt.grant_id, nat.scope, nrt.expires_at AS refresh_expires_at, (SELECT count(*) FROM rotated) AS rotated
             FROM rt, nrt, nat`,
          [p.refreshHash, p.clientId, p.scope, p.access.tokenHash, p.access.expiresAt, p.graceSeconds, p.rotate.tokenHash, p.rotate.expiresAt],
        );
    const r = rows[0];
    if (!r) return undefined;
    return { userId: Number(r.user_id), grantId: Number(r.grant_id), scope: r.scope, refreshExpiresAt: r.refresh_expires_at ?? null };
  }

  async consumeCode(id: number, trx: Db): Promise<void> {
    await trx('oauth_authorization_codes').where({ id }).update({ consumed_at: trx.fn.now() });
  }

  /** A replayed code: everything issued from it is revoked (RFC 6749 §4.1.2). */
  async revokeIssuedFromCode(codeId: number, grantId: number, trx: Db): Promise<void> {
    await trx('oauth_access_tokens').where({ authorization_code_id: codeId }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
    await trx('oauth_refresh_tokens').where({ authorization_code_id: codeId }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
    await this.bus.publish({ grants: [grantId] }, trx); // evicts a little more than needed: safe
  }

  async insertAccessToken(t: NewAccessToken, trx: Db = this.db): Promise<number> {
    const [row] = await trx('oauth_access_tokens')
      .insert({
        token_hash: t.tokenHash,
        grant_id: t.grantId,
        refresh_token_id: t.refreshTokenId,
        authorization_code_id: t.authorizationCodeId,
        scope: t.scope,
        expires_at: t.expiresAt,
      })
      .returning('id');
    return Number((row as { id: number }).id);
  }

  async insertRefreshToken(t: NewRefreshToken, trx: Db = this.db): Promise<number> {
    const [row] = await trx('oauth_refresh_tokens')
      .insert({ token_hash: t.tokenHash, grant_id: t.grantId, authorization_code_id: t.authorizationCodeId, scope: t.scope, expires_at: t.expiresAt })
      .returning('id');
    return Number((row as { id: number }).id);
  }

  private static toRefresh(r: Record<string, unknown>): RefreshToken {
    return {
      id: Number(r.id),
      grantId: Number(r.grant_id),
      clientId: Number(r.g_client_id),
      userId: Number(r.g_user_id),
      authorizationCodeId: r.authorization_code_id === null ? null : Number(r.authorization_code_id),
      scope: r.scope as string[],
      expiresAt: r.expires_at as Date | null,
      rotatedAt: r.rotated_at as Date | null,
      revokedAt: r.revoked_at as Date | null,
      grantRevokedAt: r.g_revoked_at as Date | null,
      userDisabledAt: r.u_disabled_at as Date | null,
    };
  }

  async findRefreshToken(tokenHash: string, trx: Db = this.db, forUpdate = false): Promise<RefreshToken | undefined> {
    const row = await this.findWithGrant('oauth_refresh_tokens', 'token_hash', tokenHash, trx, forUpdate);
    return row ? TokenRepository.toRefresh(row) : undefined;
  }

  async markRotated(id: number, replacedById: number, trx: Db): Promise<void> {
    await trx('oauth_refresh_tokens').where({ id }).update({ rotated_at: trx.fn.now(), replaced_by_id: replacedById });
  }

  /** The access token's info if it is live: one indexed lookup by hash, joined with its grant. */
  async findLiveAccessToken(tokenHash: string): Promise<AccessTokenInfo | undefined> {
    const rows = await this.hot.query<Record<string, unknown>>(
      'lb_live_access_token',
      `SELECT t.id, t.grant_id, g.user_id, c.client_id, t.scope, t.expires_at, u.email, u.name
         FROM oauth_access_tokens t
         JOIN oauth_grants g ON g.id = t.grant_id
         JOIN oauth_clients c ON c.id = g.client_id
         JOIN users u ON u.id = g.user_id
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
          AND g.revoked_at IS NULL AND u.disabled_at IS NULL`,
      [tokenHash],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      tokenId: Number(r.id),
      grantId: Number(r.grant_id),
      userId: Number(r.user_id),
      clientId: r.client_id as string,
      scope: r.scope as string[],
      expiresAt: r.expires_at as Date,
      user: { id: Number(r.user_id), email: r.email as string, name: r.name as string },
    };
  }

  /** For revocation and introspection: which grant and client a token belongs to, live or not. */
  async findAccessTokenOwner(tokenHash: string): Promise<{ id: number; grantId: number; clientId: number } | undefined> {
    const row = await this.db('oauth_access_tokens as t')
      .join('oauth_grants as g', 'g.id', 't.grant_id')
      .where('t.token_hash', tokenHash)
      .first('t.id', 't.grant_id', 'g.client_id');
    return row ? { id: Number(row.id), grantId: Number(row.grant_id), clientId: Number(row.client_id) } : undefined;
  }

  async revokeAccessToken(id: number): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('oauth_access_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
      await this.bus.publish({ tokens: [id] }, trx);
    });
    await this.bus.delivered();
  }

  /** Removes what can never be used again; safe while serving. */
  async deleteExpired(now = new Date()): Promise<{ codes: number; accessTokens: number; refreshTokens: number }> {
    const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000);
    const codes = await this.db('oauth_authorization_codes').where('expires_at', '<', dayAgo).delete();
    const accessTokens = await this.db('oauth_access_tokens')
      .where('expires_at', '<', now)
      .orWhere('revoked_at', '<', dayAgo)
      .delete();
    const refreshTokens = await this.db('oauth_refresh_tokens')
      .where('expires_at', '<', now)
      .orWhere('revoked_at', '<', dayAgo)
      // Rotated long ago: past any grace window (at most a day), it can never be used again.
      .orWhere('rotated_at', '<', dayAgo)
      .orWhereIn('grant_id', this.db('oauth_grants').select('id').whereNotNull('revoked_at'))
      .delete();
    return { codes, accessTokens, refreshTokens };
  }
}
