import { Knex } from 'knex';
import { canonicalEmail } from '../src/auth/email';

export class CanonicalEmailCollisionError extends Error {
  constructor(readonly groups: Array<{ canonical: string; users: Array<{ id: number; email: string }> }>) {
    super(
      'Cannot add users.email_canonical: these accounts have addresses that are the same after ' +
        'normalisation, so they are one sign-in name. Nothing was changed. Rename or remove all but ' +
        'one account of each group (e.g. UPDATE users SET email = ... WHERE id = ...), then run the ' +
        'migration again:\n' +
        groups.map((g) => `  ${g.canonical}: ${g.users.map((u) => `#${u.id} <${u.email}>`).join(', ')}`).join('\n'),
    );
    this.name = 'CanonicalEmailCollisionError';
  }
}

/**
 * One canonical form per email address (security.md): users.email_canonical, computed in
 * JavaScript by canonicalEmail() (src/auth/email.ts), unique, and the only column any look-up
 * compares. Replaces the unique index on SQL lower(email), whose case mapping disagrees with
 * JavaScript's.
 *
 * Existing rows are backfilled with the same function, inside the migration's transaction and
 * with the table locked against writes (a still-running older process cannot insert a row
 * without the column in between). If two existing users collide (e.g. 'straße@…' and
 * 'strasse@…', which lower() kept apart), the migration fails loudly, names every group and
 * changes nothing: choosing which account keeps the address is an operator's decision, not a
 * migration's.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
  await knex.schema.alterTable('users', (t) => {
    t.text('email_canonical');
  });

  const rows = await knex('users').select<Array<{ id: string | number; email: string }>>('id', 'email').orderBy('id');
  const byCanonical = new Map<string, Array<{ id: number; email: string }>>();
  for (const r of rows) {
    const c = canonicalEmail(r.email);
    const list = byCanonical.get(c) ?? [];
    list.push({ id: Number(r.id), email: r.email });
    byCanonical.set(c, list);
  }
  const collisions = [...byCanonical].filter(([, users]) => users.length > 1).map(([canonical, users]) => ({ canonical, users }));
  if (collisions.length) throw new CanonicalEmailCollisionError(collisions);

  for (const [canonical, [user]] of byCanonical) {
    await knex('users').where({ id: user.id }).update({ email_canonical: canonical });
  }
  await knex.raw('ALTER TABLE users ALTER COLUMN email_canonical SET NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX users_email_canonical_key ON users (email_canonical)');
  await knex.raw('DROP INDEX users_email_lower_key');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('email_canonical');
  });
}
