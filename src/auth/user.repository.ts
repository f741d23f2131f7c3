import { Knex } from 'knex';
import { canonicalEmail } from './email';

export interface User {
  id: number;
  email: string;
  name: string;
  passwordHash: string;
  isAdmin: boolean;
  disabledAt: Date | null;
  /** When the address was proved (a mailed link, or an operator created the account); null: never. */
  emailVerifiedAt: Date | null;
  createdAt: Date;
}

export interface NewUser {
  email: string;
  name: string;
  passwordHash: string;
  isAdmin?: boolean;
  /** The operator's CLI vouches for the address; a public sign-up does not. */
  emailVerified?: boolean;
}

interface UserRow {
  id: number;
  email: string;
  email_canonical: string;
  name: string;
  password_hash: string;
  is_admin: boolean;
  disabled_at: Date | null;
  email_verified_at: Date | null;
  created_at: Date;
}

const toUser = (r: UserRow): User => ({
  id: Number(r.id),
  email: r.email,
  name: r.name,
  passwordHash: r.password_hash,
  isAdmin: r.is_admin,
  disabledAt: r.disabled_at,
  emailVerifiedAt: r.email_verified_at,
  createdAt: r.created_at,
});

export const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';

export class UserRepository {
  constructor(private readonly db: Knex) {}

  /**
   * The account an address reaches: equality on the canonical form computed in JavaScript, never
   * SQL lower() (whose case mapping disagrees with JavaScript's; security.md).
   */
  async findByEmail(email: string, trx: Knex | Knex.Transaction = this.db): Promise<User | undefined> {
    const row = await trx<UserRow>('users').where({ email_canonical: canonicalEmail(email) }).first();
    return row ? toUser(row) : undefined;
  }

  async findById(id: number, trx: Knex | Knex.Transaction = this.db): Promise<User | undefined> {
    const row = await trx<UserRow>('users').where({ id }).first();
    return row ? toUser(row) : undefined;
  }

  /** Throws the database's unique violation (23505) when the email's canonical form is taken. */
  async create(user: NewUser, trx: Knex | Knex.Transaction = this.db): Promise<User> {
    const [row] = await trx<UserRow>('users')
      .insert({ email: user.email, email_canonical: canonicalEmail(user.email), name: user.name, password_hash: user.passwordHash, is_admin: user.isAdmin ?? false, email_verified_at: user.emailVerified ? trx.fn.now() : null })
      .returning('*');
    return toUser(row as UserRow);
  }

  async updatePasswordHash(id: number, passwordHash: string, trx: Knex | Knex.Transaction = this.db): Promise<void> {
    await trx('users').where({ id }).update({ password_hash: passwordHash, updated_at: trx.fn.now() });
  }

  /**
   * Marks the address proved, but only while it is still the account's address (a link sent to
   * an address the user has since changed proves nothing about the new one). Returns whether it did.
   */
  async markEmailVerified(trx: Knex | Knex.Transaction, id: number, email: string): Promise<boolean> {
    const n = await trx('users')
      .where({ id, email_canonical: canonicalEmail(email) })
      .update({ email_verified_at: trx.raw('coalesce(email_verified_at, now())'), updated_at: trx.fn.now() });
    return n > 0;
  }

  /** The new address, proved by the link it received. Throws the unique violation (23505) when taken. */
  async changeEmail(trx: Knex.Transaction, id: number, email: string): Promise<void> {
    await trx('users')
      .where({ id })
      .update({ email, email_canonical: canonicalEmail(email), email_verified_at: trx.fn.now(), updated_at: trx.fn.now() });
  }

  /**
   * Deletes the account and what it owns: its bookmarks, all its recipes (private and published:
   * see README, "Deleting an account"; other users' bookmarks of them go with them) and, through
   * the foreign keys, its links, tokens, consent requests and mailed links. Sessions are the
   * session repository's. Returns what went.
   */
  async deleteWithContent(trx: Knex.Transaction, id: number): Promise<{ deleted: boolean; bookmarks: number; privateRecipes: number; publishedRecipes: number }> {
    const bookmarks = await trx('bookmarks').where({ user_id: id }).delete();
    const privateRecipes = await trx('recipes').where({ author_id: id, is_published: false }).delete();
    const publishedRecipes = await trx('recipes').where({ author_id: id, is_published: true }).delete();
    const deleted = (await trx('users').where({ id }).delete()) > 0;
    return { deleted, bookmarks, privateRecipes, publishedRecipes };
  }

  /** How many of the user's recipes are published and private (the deletion warning). */
  async recipeCounts(id: number): Promise<{ published: number; private: number }> {
    const rows = await this.db('recipes').where({ author_id: id }).groupBy('is_published').select('is_published').count<Array<{ is_published: boolean; count: string | number }>>({ count: '*' });
    return {
      published: Number(rows.find((r) => r.is_published)?.count ?? 0),
      private: Number(rows.find((r) => !r.is_published)?.count ?? 0),
    };
  }

  async list(): Promise<User[]> {
    const rows = await this.db<UserRow>('users').orderBy('id');
    return rows.map(toUser);
  }

  async count(): Promise<number> {
    const row = (await this.db('users').count<Array<{ count: string | number }>>({ count: '*' }))[0];
    return Number(row.count);
  }

  async disable(id: number, trx: Knex | Knex.Transaction = this.db): Promise<boolean> {
    const n = await trx('users').where({ id }).whereNull('disabled_at').update({ disabled_at: trx.fn.now(), updated_at: trx.fn.now() });
    return n > 0;
  }
}
