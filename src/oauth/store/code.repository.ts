import { Knex } from 'knex';
import { AuthorizationCode } from '../domain';
import { codeRules } from '../rules/code.rules';
import { sqlPredicate } from '../rules/rule';
import { HotQueries } from './hot-queries';
import { findWithGrant, findWithGrantHot, insertId, NewAccessToken, NewRefreshToken } from './token-rows';

export type NewAuthorizationCode = Pick<AuthorizationCode, 'grantId' | 'redirectUri' | 'redirectUriInRequest' | 'scope' | 'codeChallenge' | 'codeChallengeMethod' | 'expiresAt'> & {
  codeHash: string;
};

const toCode = (r: Record<string, unknown>): AuthorizationCode => ({
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
});

// The code rules that have a SQL form, re-checked by the redeeming statement itself: a code
// revoked or spent between the read and the write is not redeemed.
const REDEEMABLE = sqlPredicate(codeRules, {});

/** Authorization codes, looked up by the SHA-256 hash of the presented value. */
export class CodeRepository {
  constructor(
    private readonly db: Knex,
    private readonly hot: HotQueries,
  ) {}

  async insert(trx: Knex.Transaction, c: NewAuthorizationCode): Promise<number> {
    return insertId(trx, 'oauth_authorization_codes', {
        code_hash: c.codeHash,
        grant_id: c.grantId,
        redirect_uri: c.redirectUri,
        redirect_uri_in_request: c.redirectUriInRequest,
        scope: c.scope,
        code_challenge: c.codeChallenge,
        code_challenge_method: c.codeChallengeMethod,
        expires_at: c.expiresAt,
      });
  }

  async find(codeHash: string): Promise<AuthorizationCode | undefined> {
    const r = await findWithGrantHot(this.hot, 'oauth_authorization_codes', 'code_hash', codeHash);
    return r ? toCode(r) : undefined;
  }

  /** Locks the code's row (FOR UPDATE): of N parallel redemptions exactly one sees it unconsumed. */
  async findForUpdate(trx: Knex.Transaction, codeHash: string): Promise<AuthorizationCode | undefined> {
    const r = await findWithGrant(trx, 'oauth_authorization_codes', 'code_hash', codeHash, true);
    return r ? toCode(r) : undefined;
  }

  async consume(trx: Knex.Transaction, id: number): Promise<void> {
    await trx('oauth_authorization_codes').where({ id }).update({ consumed_at: trx.fn.now() });
  }

  /**
   * Consumes a code and issues its token pair in one statement (one round trip, atomic), if the
   * code is still redeemable. Returns false otherwise: the caller then takes the locked path.
   */
  async redeemInOneStatement(p: { codeId: number; scope: string[]; refresh: NewRefreshToken; access: NewAccessToken }): Promise<boolean> {
    const rows = await this.hot.query(
      'lb_redeem_code',
      `WITH c AS (
         UPDATE oauth_authorization_codes c SET consumed_at = now()
           FROM oauth_grants g JOIN users u ON u.id = g.user_id
          WHERE c.id = $1 AND g.id = c.grant_id AND ${REDEEMABLE}
          RETURNING c.id, c.grant_id
       ), nrt AS (
         INSERT INTO oauth_refresh_tokens (token_hash, grant_id, authorization_code_id, scope, expires_at)
         SELECT $2, c.grant_id, c.id, $6::text[], $3::timestamptz FROM c
         RETURNING id
       ), nat AS (
         INSERT INTO oauth_access_tokens (token_hash, grant_id, refresh_token_id, authorization_code_id, scope, expires_at)
         SELECT $4, c.grant_id, nrt.id, c.id, $6::text[], $5 FROM c, nrt
         RETURNING id
       )
       SELECT nat.id FROM nat`,
      [p.codeId, p.refresh.tokenHash, p.refresh.expiresAt, p.access.tokenHash, p.access.expiresAt, p.scope],
    );
    return rows.length === 1;
  }

  /**
   * A replayed code: everything issued from it is revoked (RFC 6749 §4.1.2). Narrowed by the
   * code's grant first: grant_id is indexed, authorization_code_id is not (migration 013).
   */
  async revokeIssuedFrom(trx: Knex.Transaction, code: { id: number; grantId: number }): Promise<void> {
    const issued = { grant_id: code.grantId, authorization_code_id: code.id };
    await trx('oauth_access_tokens').where(issued).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
    await trx('oauth_refresh_tokens').where(issued).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
  }

  /** Codes expired for a day are gone (a replay of one is then simply unknown). */
  async deleteExpired(now: Date): Promise<number> {
    return this.db('oauth_authorization_codes').where('expires_at', '<', new Date(now.getTime() - 24 * 3600 * 1000)).delete();
  }
}
