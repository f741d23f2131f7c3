import { Knex } from 'knex';

/**
 * The timeline of every link (a user's link with a client): what happened to it and when. Kept
 * against the user and the client, with the grant once one exists (authorization started and
 * sign-in come before it). Never what anyone typed: only the event, the rule or party behind it.
 * Bounded by tokens:cleanup (and each batch insert): the last LINK_EVENTS_PER_LINK per link,
 * nothing older than LINK_EVENTS_MAX_AGE_DAYS. grant_id is not a foreign key: revoked grants are
 * deleted after 30 days, and their timeline may outlive them until it ages out.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oauth_link_events', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('client_id').notNullable().references('oauth_clients.id').onDelete('CASCADE');
    t.bigInteger('grant_id');
    t.text('type').notNullable();
    t.text('reason');
    t.timestamp('occurred_at', { useTz: true }).notNullable();
  });
  await knex.raw('CREATE INDEX oauth_link_events_link ON oauth_link_events (user_id, client_id, occurred_at DESC, id DESC)');
  await knex.raw('CREATE INDEX oauth_link_events_grant ON oauth_link_events (grant_id, occurred_at DESC) WHERE grant_id IS NOT NULL');
  await knex.raw('CREATE INDEX oauth_link_events_age ON oauth_link_events (occurred_at)');
  await knex.raw('CREATE INDEX oauth_link_events_client ON oauth_link_events (client_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('oauth_link_events');
}
