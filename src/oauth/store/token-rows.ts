import { Knex } from 'knex';
import type { HotQueries } from './hot-queries';

type Db = Knex | Knex.Transaction;

type Table = 'oauth_authorization_codes' | 'oauth_refresh_tokens';
type Column = 'code_hash' | 'token_hash';

/**
 * The columns the repositories read. Named, not `x.*`: a prepared statement whose result columns
 * change (a migration adding one while servers run) fails with "cached plan must not change result
 * type" until the connection is gone.
 */
const COLUMNS: Record<Table, string> = {
  oauth_authorization_codes: 'x.id, x.grant_id, x.redirect_uri, x.redirect_uri_in_request, x.scope, x.code_challenge, x.code_challenge_method, x.expires_at, x.consumed_at',
  oauth_refresh_tokens: 'x.id, x.grant_id, x.authorization_code_id, x.scope, x.expires_at, x.rotated_at, x.replaced_by_id, x.revoked_at',
};

/** The row by hash with its grant's client and user and their liveness; `param` is the hash's placeholder. */
const withGrantSql = (table: Table, column: Column, param: string, forUpdate: boolean) =>
  `SELECT ${COLUMNS[table]}, g.client_id AS g_client_id, g.user_id AS g_user_id, g.revoked_at AS g_revoked_at, u.disabled_at AS u_disabled_at
       FROM ${table} x
       JOIN oauth_grants g ON g.id = x.grant_id
       JOIN users u ON u.id = g.user_id
      WHERE x.${column} = ${param}${forUpdate ? ' FOR UPDATE OF x' : ''}`;

/**
 * A code or refresh token row by hash, with its grant's client and user and their liveness
 * (columns g_client_id, g_user_id, g_revoked_at, u_disabled_at). `forUpdate` locks the row.
 */
export async function findWithGrant(db: Db, table: Table, column: Column, hash: string, forUpdate: boolean): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.raw<{ rows: Array<Record<string, unknown>> }>(withGrantSql(table, column, '?', forUpdate), [hash]);
  return rows[0];
}

/** The same read outside a transaction, as a hot query (a code exchange and a refresh read first). */
export async function findWithGrantHot(hot: HotQueries, table: Table, column: Column, hash: string): Promise<Record<string, unknown> | undefined> {
  const rows = await hot.query<Record<string, unknown>>(`lb_find_${table}`, withGrantSql(table, column, '$1', false), [hash]);
  return rows[0];
}

/** A new access token row (the hash only). */
export interface NewAccessToken {
  tokenHash: string;
  grantId: number;
  refreshTokenId: number | null;
  authorizationCodeId: number | null;
  scope: string[];
  expiresAt: Date;
}

/** A new refresh token row (the hash only). */
export interface NewRefreshToken {
  tokenHash: string;
  grantId: number;
  authorizationCodeId: number | null;
  scope: string[];
  expiresAt: Date | null;
}

/** Inserts one row in `trx` and returns its id. */
export async function insertId(trx: Knex.Transaction, table: string, row: Record<string, unknown>): Promise<number> {
  const [inserted] = (await trx(table).insert(row).returning('id')) as Array<{ id: number }>;
  return Number(inserted.id);
}
