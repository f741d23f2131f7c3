import { Knex } from 'knex';

/**
 * A client marked as a resource server may introspect other clients' access tokens (RFC 7662
 * §4: the server decides who may learn what). Off for every existing client: introspection of
 * others' tokens becomes an explicit grant of trust.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oauth_clients', (t) => {
    t.boolean('is_resource_server').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oauth_clients', (t) => {
    t.dropColumn('is_resource_server');
  });
}
