import { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id').primary();
    t.text('email').notNullable();
    t.text('name').notNullable().defaultTo('');
    t.text('password_hash').notNullable();
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.timestamp('disabled_at', { useTz: true });
    t.timestamps(true, true);
  });
  // Email is unique case-insensitively.
  await knex.raw('CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('users');
}
