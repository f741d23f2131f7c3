import { Knex } from 'knex';

/**
 * Fewer indexes on the token tables, whose inserts are the refresh grant's main cost (issue 13):
 * - oauth_access_tokens.refresh_token_id: no query filters on it.
 * - oauth_access_tokens.authorization_code_id and oauth_refresh_tokens.authorization_code_id:
 *   only the revocation after a replayed code reads them, and it now narrows by the code's grant
 *   first (grant_id is indexed on both tables; a grant holds few live tokens).
 * Each was one more B-tree insert at a random position per token issued.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS oauth_access_tokens_refresh_token_id_index');
  await knex.raw('DROP INDEX IF EXISTS oauth_access_tokens_authorization_code_id_index');
  await knex.raw('DROP INDEX IF EXISTS oauth_refresh_tokens_authorization_code_id_index');
}

/**
 * A plain CREATE INDEX (migrations run in a transaction, where CONCURRENTLY cannot): it holds off
 * writes to the token tables while it builds, minutes with millions of tokens. Roll back in a quiet
 * window, or create the three indexes CONCURRENTLY by hand first (IF NOT EXISTS then skips them).
 */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS oauth_access_tokens_refresh_token_id_index ON oauth_access_tokens (refresh_token_id)');
  await knex.raw('CREATE INDEX IF NOT EXISTS oauth_access_tokens_authorization_code_id_index ON oauth_access_tokens (authorization_code_id)');
  await knex.raw('CREATE INDEX IF NOT EXISTS oauth_refresh_tokens_authorization_code_id_index ON oauth_refresh_tokens (authorization_code_id)');
}
