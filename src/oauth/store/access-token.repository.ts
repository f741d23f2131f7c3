import { Knex } from 'knex';
import { AccessTokenInfo } from '../domain';
import { accessTokenRules } from '../rules/access-token.rules';
import { sqlPredicate } from '../rules/rule';
import { HotQueries } from './hot-queries';
import { insertId, NewAccessToken } from './token-rows';

// The token's scope, less what its client no longer has: the client's configuration bounds every
// token it has (a cached entry goes when the client changes).
const LIVE = `SELECT t.id, t.grant_id, g.user_id, c.client_id, t.expires_at, u.email, u.name,
         ARRAY(SELECT s FROM unnest(t.scope) WITH ORDINALITY AS x(s, i) WHERE s = ANY(c.scopes) ORDER BY i) AS scope
    FROM oauth_access_tokens t
    JOIN oauth_grants g ON g.id = t.grant_id
    JOIN oauth_clients c ON c.id = g.client_id
    JOIN users u ON u.id = g.user_id
   WHERE t.token_hash = $1 AND ${sqlPredicate(accessTokenRules, {})}`;

/** Distinct client ids and scopes kept shared: far fewer than the tokens that carry them. */
const MAX_INTERNED = 10_000;

/** Access tokens, looked up by the SHA-256 hash of the presented value. */
export class AccessTokenRepository {
  /**
   * The token cache keeps what findLive returns for up to 100,000 tokens: each token's copy of its
   * client id and scope array would be a good part of an entry. One shared copy per distinct value.
   */
  private readonly interned = new Map<string, string | readonly string[]>();

  constructor(
    private readonly db: Knex,
    private readonly hot: HotQueries,
  ) {}

  private intern<T extends string | readonly string[]>(key: string, value: T): T {
    const known = this.interned.get(key);
    if (known !== undefined) return known as T;
    if (this.interned.size < MAX_INTERNED) this.interned.set(key, value);
    return value;
  }

  async insert(trx: Knex.Transaction, t: NewAccessToken): Promise<number> {
    return insertId(trx, 'oauth_access_tokens', {
        token_hash: t.tokenHash,
        grant_id: t.grantId,
        refresh_token_id: t.refreshTokenId,
        authorization_code_id: t.authorizationCodeId,
        scope: t.scope,
        expires_at: t.expiresAt,
      });
  }

  /** The access token's info if it is live: one indexed lookup by hash, joined with its grant. */
  async findLive(tokenHash: string): Promise<AccessTokenInfo | undefined> {
    const rows = await this.hot.query<Record<string, unknown>>('lb_live_access_token', LIVE, [tokenHash]);
    const r = rows[0];
    if (!r) return undefined;
    const clientId = r.client_id as string;
    const scope = r.scope as string[];
    return {
      tokenId: Number(r.id),
      grantId: Number(r.grant_id),
      userId: Number(r.user_id),
      clientId: this.intern(`c ${clientId}`, clientId),
      scope: this.intern(`s ${scope.join(' ')}`, Object.freeze(scope)),
      expiresAtMs: (r.expires_at as Date).getTime(),
      user: { id: Number(r.user_id), email: r.email as string, name: r.name as string },
    };
  }

  /** For revocation: which grant and client a token belongs to, live or not. */
  async findOwner(tokenHash: string): Promise<{ id: number; grantId: number; clientId: number } | undefined> {
    const row = await this.db('oauth_access_tokens as t')
      .join('oauth_grants as g', 'g.id', 't.grant_id')
      .where('t.token_hash', tokenHash)
      .first('t.id', 't.grant_id', 'g.client_id');
    return row ? { id: Number(row.id), grantId: Number(row.grant_id), clientId: Number(row.client_id) } : undefined;
  }

  async revoke(trx: Knex.Transaction, id: number): Promise<void> {
    await trx('oauth_access_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
  }

  /** Removes what can never be used again; safe while serving. */
  async deleteDead(now: Date): Promise<number> {
    const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000);
    return this.db('oauth_access_tokens').where('expires_at', '<', now).orWhere('revoked_at', '<', dayAgo).delete();
  }
}
