import { Knex } from 'knex';

type Db = Knex | Knex.Transaction;

/**
 * A code or refresh token row by hash, with its grant's client and user and their liveness
 * (columns g_client_id, g_user_id, g_revoked_at, u_disabled_at). `forUpdate` locks the row.
 */
export async function findWithGrant(
  db: Db,
  table: 'oauth_authorization_codes' | 'oauth_refresh_tokens',
  column: 'code_hash' | 'token_hash',
  hash: string,
  forUpdate: boolean,
): Promise<Record<string, unknown> | undefined> {
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
