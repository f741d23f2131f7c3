import { Knex } from 'knex';
import { canonicalEmail } from './email';

export interface User {
  id: number;
  email: string;
  name: string;
  passwordHash: string;
  isAdmin: boolean;
  disabledAt: Date | null;
  createdAt: Date;
}

export interface NewUser {
  email: string;
  name: string;
  passwordHash: string;
  isAdmin?: boolean;
}

interface UserRow {
  id: number;
  email: string;
  email_canonical: string;
  name: string;
  password_hash: string;
  is_admin: boolean;
  disabled_at: Date | null;
  created_at: Date;
}

const toUser = (r: UserRow): User => ({
  id: Number(r.id),
  email: r.email,
  name: r.name,
  passwordHash: r.password_hash,
  isAdmin: r.is_admin,
  disabledAt: r.disabled_at,
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
      .insert({ email: user.email, email_canonical: canonicalEmail(user.email), name: user.name, password_hash: user.passwordHash, is_admin: user.isAdmin ?? false })
      .returning('*');
    return toUser(row as UserRow);
  }

  async updatePasswordHash(id: number, passwordHash: string): Promise<void> {
    await this.db('users').where({ id }).update({ password_hash: passwordHash, updated_at: this.db.fn.now() });
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
