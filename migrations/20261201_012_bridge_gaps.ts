import { Knex } from 'knex';

/**
 * Bridge mode's gaps (issue 15):
 * - A bridge's Alexa-facing client gets tokens at /bridge/<name>/... only: its grants become the
 *   single marker 'bridge', so /oauth/authorize and /oauth/token answer it unauthorized_client
 *   instead of issuing our own tokens for our own API. New bridges are created that way; this
 *   fixes the clients of bridges made before.
 * - An upstream that offers only the implicit grant (`upstream_implicit`): its access token comes
 *   back in the fragment of our callback. Such an upstream may have no token endpoint ('' then).
 */
export async function confineBridgeClients(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE oauth_clients SET grants = ARRAY['bridge']::text[], updated_at = now() WHERE id IN (SELECT client_id FROM bridges)`);
}

export async function up(knex: Knex): Promise<void> {
  await confineBridgeClients(knex);
  await knex.schema.alterTable('bridges', (t) => {
    t.boolean('upstream_implicit').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('bridges', (t) => {
    t.dropColumn('upstream_implicit');
  });
  await knex.raw(
    `UPDATE oauth_clients SET grants = CASE WHEN allow_implicit THEN ARRAY['authorization_code', 'refresh_token', 'implicit'] ELSE ARRAY['authorization_code', 'refresh_token'] END::text[], updated_at = now() WHERE id IN (SELECT client_id FROM bridges)`,
  );
}
