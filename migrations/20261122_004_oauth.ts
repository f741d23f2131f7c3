import { Knex } from 'knex';

/**
 * OAuth clients, grants (one per user-client link) and what hangs off a grant: codes, access and
 * refresh tokens. Only SHA-256 hashes of codes, tokens and secrets are stored.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oauth_clients', (t) => {
    t.bigIncrements('id').primary();
    t.text('client_id').notNullable().unique();
    t.text('secret_hash'); // NULL for a public client
    t.text('previous_secret_hash'); // still accepted until previous_secret_expires_at (rotation)
    t.timestamp('previous_secret_expires_at', { useTz: true });
    t.text('name').notNullable();
    t.specificType('redirect_uris', 'text[]').notNullable();
    t.specificType('grants', 'text[]').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    t.boolean('require_pkce').notNullable().defaultTo(false);
    t.boolean('allow_implicit').notNullable().defaultTo(false);
    t.text('refresh_rotation').notNullable().defaultTo('off');
    t.integer('access_token_ttl'); // seconds; NULL = server default
    t.integer('refresh_token_ttl'); // seconds; NULL = server default, 0 = never expires
    t.text('alexa_vendor_id');
    t.timestamps(true, true);
  });
  await knex.raw("ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_rotation_check CHECK (refresh_rotation IN ('off', 'rotate'))");

  await knex.schema.createTable('oauth_grants', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('client_id').notNullable().references('oauth_clients.id').onDelete('CASCADE');
    t.specificType('scope', 'text[]').notNullable();
    t.text('alexa_user_id');
    t.timestamp('alexa_linked_at', { useTz: true });
    t.timestamps(true, true);
    t.timestamp('revoked_at', { useTz: true });
    t.index(['user_id']);
    t.index(['alexa_user_id']);
  });
  // One live link per user and client.
  await knex.raw('CREATE UNIQUE INDEX oauth_grants_live_key ON oauth_grants (user_id, client_id) WHERE revoked_at IS NULL');

  // A validated authorization request waiting for the user's decision. It stays on the server; the
  // consent form posts only its opaque id (hashed here), and it is consumed exactly once.
  await knex.schema.createTable('oauth_consent_requests', (t) => {
    t.bigIncrements('id').primary();
    t.text('id_hash').notNullable().unique();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('client_id').notNullable().references('oauth_clients.id').onDelete('CASCADE');
    t.jsonb('request').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('oauth_authorization_codes', (t) => {
    t.bigIncrements('id').primary();
    t.text('code_hash').notNullable().unique();
    t.bigInteger('grant_id').notNullable().references('oauth_grants.id').onDelete('CASCADE');
    t.text('redirect_uri').notNullable();
    t.boolean('redirect_uri_in_request').notNullable();
    t.specificType('scope', 'text[]').notNullable();
    t.text('code_challenge');
    t.text('code_challenge_method');
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('consumed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['grant_id']);
  });

  await knex.schema.createTable('oauth_refresh_tokens', (t) => {
    t.bigIncrements('id').primary();
    t.text('token_hash').notNullable().unique();
    t.bigInteger('grant_id').notNullable().references('oauth_grants.id').onDelete('CASCADE');
    t.bigInteger('authorization_code_id'); // the code this token family comes from (replay revocation)
    t.specificType('scope', 'text[]').notNullable();
    t.timestamp('expires_at', { useTz: true }); // NULL: until revoked
    t.timestamp('rotated_at', { useTz: true });
    t.bigInteger('replaced_by_id');
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['grant_id']);
    t.index(['authorization_code_id']);
  });

  await knex.schema.createTable('oauth_access_tokens', (t) => {
    t.bigIncrements('id').primary();
    t.text('token_hash').notNullable().unique();
    t.bigInteger('grant_id').notNullable().references('oauth_grants.id').onDelete('CASCADE');
    t.bigInteger('refresh_token_id');
    t.bigInteger('authorization_code_id');
    t.specificType('scope', 'text[]').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['grant_id']);
    t.index(['refresh_token_id']);
    t.index(['authorization_code_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['oauth_access_tokens', 'oauth_refresh_tokens', 'oauth_authorization_codes', 'oauth_consent_requests', 'oauth_grants', 'oauth_clients']) {
    await knex.schema.dropTable(table);
  }
}
