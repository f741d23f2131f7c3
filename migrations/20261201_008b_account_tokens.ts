import { Knex } from 'knex';

/**
 * Single-use links mailed to a user: password reset, address confirmation, email change. Only
 * the SHA-256 of the token is stored; a link is spent by one atomic UPDATE (used_at). `email` is
 * the address the link was sent to (for an email change: the new address), `return_to` where the
 * user continues afterwards (a same-origin path, such as the OAuth request they came from).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('account_tokens', (t) => {
    t.bigIncrements('id').primary();
    t.text('token_hash').notNullable().unique();
    t.text('purpose').notNullable();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('email').notNullable();
    t.text('return_to');
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id', 'purpose']);
  });
  await knex.raw(`ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_purpose_check CHECK (purpose IN ('password_reset', 'email_verify', 'email_change'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('account_tokens');
}
