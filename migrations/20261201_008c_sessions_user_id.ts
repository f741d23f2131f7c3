import { Knex } from 'knex';

/**
 * sessions.user_id, written by the session store from sess.userId, so "sign out every other
 * session of this user" (password reset or change, account deletion) is one indexed DELETE rather
 * than a scan of every session's JSON. No foreign key: a request still in flight while its user is
 * deleted may write its session once more; loadUser then finds no user and drops it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.bigInteger('user_id');
    t.index(['user_id']);
  });
  await knex.raw(`UPDATE sessions SET user_id = (sess->>'userId')::bigint WHERE sess->>'userId' ~ '^[0-9]{1,18}$'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.dropColumn('user_id');
  });
}
