import { Knex } from 'knex';
import { RefreshToken } from '../domain';
import { refreshTokenRules } from '../rules/refresh-token.rules';
import { sqlPredicate } from '../rules/rule';
import { HotQueries } from './hot-queries';
import { findWithGrant, findWithGrantHot, insertId, NewRefreshToken } from './token-rows';

const toRefresh = (r: Record<string, unknown>): RefreshToken => ({
  id: Number(r.id),
  grantId: Number(r.grant_id),
  clientId: Number(r.g_client_id),
  userId: Number(r.g_user_id),
  authorizationCodeId: r.authorization_code_id === null ? null : Number(r.authorization_code_id),
  scope: r.scope as string[],
  expiresAt: r.expires_at as Date | null,
  rotatedAt: r.rotated_at as Date | null,
  replacedById: r.replaced_by_id === null || r.replaced_by_id === undefined ? null : Number(r.replaced_by_id),
  revokedAt: r.revoked_at as Date | null,
  grantRevokedAt: r.g_revoked_at as Date | null,
  userDisabledAt: r.u_disabled_at as Date | null,
});

// $1 refresh hash, $2 client, $3 requested scope (NULL: all), $4 access hash, $5 access expiry,
// $6 grace seconds, $7 the client's scopes now; under rotation $8 new refresh hash, $9 its expiry.
// Every refresh rule in SQL.
const USABLE = `r.token_hash = $1 AND ${sqlPredicate(refreshTokenRules, { clientId: '$2', scope: '$3::text[]', graceSeconds: '$6', clientScopes: '$7::text[]' })}`;
// issuedScope() in SQL: the requested (or the token's) scope, less what the client no longer has.
const ISSUED_SCOPE = `ARRAY(SELECT s FROM unnest(COALESCE($3::text[], rt.scope)) WITH ORDINALITY AS x(s, i) WHERE s = ANY($7::text[]) ORDER BY i)`;
const FROM = 'FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id JOIN users u ON u.id = g.user_id';

const KEEP = `WITH rt AS (
    SELECT r.id, r.grant_id, r.authorization_code_id, r.scope, r.expires_at, g.user_id ${FROM} WHERE ${USABLE}
  ), nat AS (
    INSERT INTO oauth_access_tokens (token_hash, grant_id, refresh_token_id, authorization_code_id, scope, expires_at)
    SELECT $4, rt.grant_id, rt.id, rt.authorization_code_id, ${ISSUED_SCOPE}, $5 FROM rt
    RETURNING scope
  )
  SELECT rt.user_id, rt.grant_id, nat.scope, rt.expires_at AS refresh_expires_at, false AS retried FROM rt, nat`;

// Under rotation the successor is deterministic (TokenIssuer.successorOf): the first use rotates
// (inserts it, marks the token), a retry within the grace window finds the same successor and is
// answered with it: one grant, one live chain (RFC 9700 §4.14.2). A successor not visible to this
// statement (a concurrent rotation just committed) or not the expected one: no row, locked path.
const ROTATE = `WITH rt AS (
    SELECT r.id, r.grant_id, r.authorization_code_id, r.scope, r.rotated_at, r.replaced_by_id, g.user_id ${FROM} WHERE ${USABLE}
     FOR UPDATE OF r
  ), nrt AS (
    INSERT INTO oauth_refresh_tokens (token_hash, grant_id, authorization_code_id, scope, expires_at)
    SELECT $8, rt.grant_id, rt.authorization_code_id, rt.scope, $9::timestamptz FROM rt WHERE rt.rotated_at IS NULL
    RETURNING id, expires_at
  ), succ AS (
    SELECT id, expires_at FROM nrt
    UNION ALL
    SELECT s.id, s.expires_at FROM rt JOIN oauth_refresh_tokens s ON s.id = rt.replaced_by_id AND s.token_hash = $8
     WHERE rt.rotated_at IS NOT NULL
  ), nat AS (
    INSERT INTO oauth_access_tokens (token_hash, grant_id, refresh_token_id, authorization_code_id, scope, expires_at)
    SELECT $4, rt.grant_id, succ.id, rt.authorization_code_id, ${ISSUED_SCOPE}, $5 FROM rt, succ
    RETURNING scope
  ), rotated AS (
    UPDATE oauth_refresh_tokens o SET rotated_at = now(), replaced_by_id = nrt.id
      FROM rt, nrt
     WHERE o.id = rt.id
    RETURNING o.id
  )
  SELECT rt.user_id, rt.grant_id, nat.scope, succ.expires_at AS refresh_expires_at, rt.rotated_at IS NOT NULL AS retried FROM rt, succ, nat`;

export interface FastRefresh {
  refreshHash: string;
  clientId: number;
  scope: string[] | null;
  graceSeconds: number;
  clientScopes: string[];
  access: { tokenHash: string; expiresAt: Date };
  /** Under rotation: the presented token's successor (deterministic, so a retry finds it again). */
  rotate?: { tokenHash: string; expiresAt: Date | null };
}

/** Refresh tokens, looked up by the SHA-256 hash of the presented value. */
export class RefreshTokenRepository {
  constructor(
    private readonly db: Knex,
    private readonly hot: HotQueries,
  ) {}

  async insert(trx: Knex.Transaction, t: NewRefreshToken): Promise<number> {
    return insertId(trx, 'oauth_refresh_tokens', { token_hash: t.tokenHash, grant_id: t.grantId, authorization_code_id: t.authorizationCodeId, scope: t.scope, expires_at: t.expiresAt });
  }

  async find(tokenHash: string): Promise<RefreshToken | undefined> {
    const row = await findWithGrantHot(this.hot, 'oauth_refresh_tokens', 'token_hash', tokenHash);
    return row ? toRefresh(row) : undefined;
  }

  /** The token in a transaction; `lock` (rotation) serialises concurrent refreshes of it. */
  async findIn(trx: Knex.Transaction, tokenHash: string, lock: boolean): Promise<RefreshToken | undefined> {
    const row = await findWithGrant(trx, 'oauth_refresh_tokens', 'token_hash', tokenHash, lock);
    return row ? toRefresh(row) : undefined;
  }

  async markRotated(trx: Knex.Transaction, id: number, replacedById: number): Promise<void> {
    await trx('oauth_refresh_tokens').where({ id }).update({ rotated_at: trx.fn.now(), replaced_by_id: replacedById });
  }

  /** The successor a rotated token points at, as stored (hash, liveness). */
  async findSuccessor(trx: Knex.Transaction, id: number): Promise<{ id: number; tokenHash: string; expiresAt: Date | null; revokedAt: Date | null } | undefined> {
    const row = await trx('oauth_refresh_tokens').where({ id }).first('id', 'token_hash', 'expires_at', 'revoked_at');
    return row ? { id: Number(row.id), tokenHash: row.token_hash, expiresAt: row.expires_at, revokedAt: row.revoked_at } : undefined;
  }

  /** Revokes the chain that grew from a token (its successor, the successor's, ...); returns how many. */
  async revokeDescendants(trx: Knex.Transaction, id: number): Promise<number> {
    const { rows } = await trx.raw<{ rows: unknown[] }>(
      `WITH RECURSIVE chain(id) AS (
         SELECT replaced_by_id FROM oauth_refresh_tokens WHERE id = ? AND replaced_by_id IS NOT NULL
         UNION
         SELECT r.replaced_by_id FROM oauth_refresh_tokens r JOIN chain ON r.id = chain.id WHERE r.replaced_by_id IS NOT NULL
       )
       UPDATE oauth_refresh_tokens SET revoked_at = now() WHERE id IN (SELECT id FROM chain) AND revoked_at IS NULL RETURNING id`,
      [id],
    );
    return rows.length;
  }

  /**
   * The refresh grant in one statement when every refresh rule passes (their SQL forms). Under
   * rotation the token row is locked, a new pair is issued and the old token marked rotated, all
   * at once. Undefined when any rule fails: the caller takes the locked path for the exact error.
   */
  async refreshInOneStatement(p: FastRefresh): Promise<{ userId: number; grantId: number; scope: string[]; refreshExpiresAt: Date | null; retried: boolean } | undefined> {
    type Row = { user_id: number; grant_id: number; scope: string[]; refresh_expires_at: Date | null; retried: boolean };
    const values = [p.refreshHash, p.clientId, p.scope, p.access.tokenHash, p.access.expiresAt, p.graceSeconds, p.clientScopes];
    const rows = p.rotate
      ? await this.hot.query<Row>('lb_refresh_rotate', ROTATE, [...values, p.rotate.tokenHash, p.rotate.expiresAt])
      : await this.hot.query<Row>('lb_refresh_keep', KEEP, values);
    const r = rows[0];
    if (!r) return undefined;
    return { userId: Number(r.user_id), grantId: Number(r.grant_id), scope: r.scope, refreshExpiresAt: r.refresh_expires_at ?? null, retried: r.retried === true };
  }

  /**
   * Removes what can never be used again; safe while serving. A rotated token of a live grant
   * can no longer refresh, but it stays for `reuseDetectionDays`: presented again, it must still
   * revoke the grant (RFC 9700 §4.14.2), not answer an invalid_grant that revokes nothing.
   */
  async deleteDead(now: Date, reuseDetectionDays: number): Promise<number> {
    const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000);
    const reuseHorizon = new Date(now.getTime() - reuseDetectionDays * 24 * 3600 * 1000);
    return this.db('oauth_refresh_tokens')
      .where('expires_at', '<', now)
      .orWhere('revoked_at', '<', dayAgo)
      .orWhere('rotated_at', '<', reuseHorizon)
      .orWhereIn('grant_id', this.db('oauth_grants').select('id').whereNotNull('revoked_at'))
      .delete();
  }
}
