import { Knex } from 'knex';

/**
 * Sign-in through another provider (issue 14): the upstream providers an operator configured, and
 * the identities (provider + subject, unique) linked to local users. The client secret is stored
 * sealed (AES-256-GCM, SecretBox) with the row id in its AAD. Deleting a user deletes their
 * identities; a provider with identities is removed only with its identities (the CLI asks for
 * --force when that would leave someone without a way to sign in). Disabling keeps everything.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('identity_providers', (t) => {
    t.increments('id').primary();
    t.text('name').notNullable().unique();
    t.text('display_name').notNullable();
    t.text('type').notNullable(); // oidc | oauth2 | amazon
    t.text('issuer');
    t.text('authorization_url');
    t.text('token_url');
    t.text('userinfo_url');
    t.text('client_id').notNullable();
    t.text('client_secret_sealed');
    t.text('scope').notNullable();
    t.text('token_auth_method').notNullable().defaultTo('client_secret_post');
    t.text('subject_field');
    t.text('email_field');
    t.text('email_verified_field');
    t.text('name_field');
    t.boolean('trust_email').notNullable().defaultTo(false);
    t.boolean('allow_http').notNullable().defaultTo(false);
    t.boolean('allow_signup').notNullable().defaultTo(true);
    t.boolean('enabled').notNullable().defaultTo(true);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('user_identities', (t) => {
    t.increments('id').primary();
    t.integer('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('provider_id').notNullable().references('id').inTable('identity_providers').onDelete('CASCADE');
    t.text('subject').notNullable();
    t.text('email');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.unique(['provider_id', 'subject']);
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('user_identities');
  await knex.schema.dropTable('identity_providers');
}
