import { Knex } from 'knex';

/**
 * users.email_verified_at: when the owner of the address proved they receive mail there (a
 * confirmation link, a password reset or an email change), or when an operator created the account
 * (CLI). Accounts from before this migration stay NULL: nothing proved their address, so with
 * REQUIRE_EMAIL_VERIFICATION on they confirm it once (from /account or the consent page).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('email_verified_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('email_verified_at');
  });
}
