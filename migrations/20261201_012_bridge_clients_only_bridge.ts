import { Knex } from 'knex';

/**
 * A bridge's Alexa-facing client gets tokens at /bridge/<name>/... only (issue 15): its grants
 * become the single marker 'bridge', so /oauth/authorize and /oauth/token answer it
 * unauthorized_client instead of issuing our own tokens for our own API. New bridges are created
 * that way; this fixes the clients of bridges made before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE oauth_clients SET grants = ARRAY['bridge']::text[], updated_at = now() WHERE id IN (SELECT client_id FROM bridges)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(
    `UPDATE oauth_clients SET grants = CASE WHEN allow_implicit THEN ARRAY['authorization_code', 'refresh_token', 'implicit'] ELSE ARRAY['authorization_code', 'refresh_token'] END::text[], updated_at = now() WHERE id IN (SELECT client_id FROM bridges)`,
  );
}
