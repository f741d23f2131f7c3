import { Knex } from 'knex';

/**
 * Bridge mode (issue 15): Linkbridge in front of an upstream OAuth server. A bridge is the
 * upstream's configuration plus the Alexa-facing OAuth client it answers as. A bridge link is one
 * user's upstream tokens (sealed with SecretBox, never in clear), hanging off the oauth_grants row
 * that puts it on the user's Connected apps page. Our own codes and refresh handles are stored as
 * SHA-256 hashes only, like every other token of ours.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('bridges', (t) => {
    t.bigIncrements('id').primary();
    t.text('name').notNullable().unique();
    t.bigInteger('client_id').notNullable().unique().references('oauth_clients.id').onDelete('CASCADE');
    t.text('vendor_id').notNullable();
    t.text('base_url').notNullable();
    t.text('authorize_url').notNullable();
    t.text('token_url').notNullable();
    t.text('revocation_url');
    t.text('upstream_client_id').notNullable();
    t.text('upstream_client_secret_sealed'); // NULL: a public upstream client
    t.text('token_auth').notNullable().defaultTo('basic');
    t.text('token_body').notNullable().defaultTo('form');
    t.jsonb('fields').notNullable(); // where each answer field is: { access_token: 'data.accessToken', ... }
    t.integer('expires_in_default').notNullable();
    t.jsonb('scopes').notNullable(); // [{ alexa, upstream: [...] }]
    t.text('scope_separator').notNullable().defaultTo(' ');
    t.jsonb('authorize_params').notNullable();
    t.jsonb('token_params').notNullable();
    t.boolean('pkce').notNullable().defaultTo(false);
    t.boolean('state_echo').notNullable().defaultTo(true);
    t.boolean('implicit').notNullable().defaultTo(false);
    t.boolean('allow_http').notNullable().defaultTo(false);
    t.timestamps(true, true);
  });
  await knex.raw("ALTER TABLE bridges ADD CONSTRAINT bridges_token_auth_check CHECK (token_auth IN ('basic', 'body'))");
  await knex.raw("ALTER TABLE bridges ADD CONSTRAINT bridges_token_body_check CHECK (token_body IN ('form', 'json'))");

  // Alexa's validated authorization request while the user is at the upstream. Single use.
  await knex.schema.createTable('bridge_transactions', (t) => {
    t.bigIncrements('id').primary();
    t.text('id_hash').notNullable().unique();
    t.bigInteger('bridge_id').notNullable().references('bridges.id').onDelete('CASCADE');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.jsonb('request').notNullable();
    t.text('pkce_verifier_sealed');
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('bridge_links', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('bridge_id').notNullable().references('bridges.id').onDelete('CASCADE');
    t.bigInteger('grant_id').notNullable().references('oauth_grants.id').onDelete('CASCADE');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.specificType('scope', 'text[]').notNullable();
    t.text('access_token_sealed').notNullable();
    t.text('access_token_hash').notNullable(); // SkillAccountLinked carries the upstream access token
    t.timestamp('access_expires_at', { useTz: true }).notNullable();
    t.text('refresh_token_sealed'); // NULL: the upstream gave none (the user re-links when it expires)
    t.text('handle_hash').unique(); // our refresh handle, given to Alexa at the code exchange
    t.timestamp('last_refreshed_at', { useTz: true }); // the answer within the retry window is this row's token
    // One upstream refresh at a time per link, across processes: a lease taken with a conditional
    // UPDATE (no transaction held across the HTTP call, no advisory lock: PGlite has neither).
    t.text('lease_id');
    t.timestamp('lease_until', { useTz: true });
    t.timestamp('ended_at', { useTz: true });
    t.text('ended_reason');
    t.timestamp('upstream_revoked_at', { useTz: true });
    t.timestamps(true, true);
    t.index(['grant_id']);
    t.index(['user_id']);
    t.index(['access_token_hash']);
  });

  await knex.schema.createTable('bridge_codes', (t) => {
    t.bigIncrements('id').primary();
    t.text('code_hash').notNullable().unique();
    t.bigInteger('link_id').notNullable().references('bridge_links.id').onDelete('CASCADE');
    t.text('redirect_uri').notNullable();
    t.text('code_challenge');
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('consumed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('bridge_codes');
  await knex.schema.dropTableIfExists('bridge_links');
  await knex.schema.dropTableIfExists('bridge_transactions');
  await knex.schema.dropTableIfExists('bridges');
}
