import { Knex } from 'knex';

export type AccountTokenPurpose = 'password_reset' | 'email_verify' | 'email_change';

export interface AccountToken {
  id: number;
  purpose: AccountTokenPurpose;
  userId: number;
  /** The address the link was mailed to (for an email change: the new address). */
  email: string;
  returnTo: string | null;
  expiresAt: Date;
  usedAt: Date | null;
}

interface Row {
  token_hash: string;
  id: number | string;
  purpose: AccountTokenPurpose;
  user_id: number | string;
  email: string;
  return_to: string | null;
  expires_at: Date;
  used_at: Date | null;
}

const toToken = (r: Row): AccountToken => ({
  id: Number(r.id),
  purpose: r.purpose,
  userId: Number(r.user_id),
  email: r.email,
  returnTo: r.return_to,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
});

/** Mailed single-use links, by the SHA-256 of their token (the token itself is never stored). */
export class AccountTokenRepository {
  constructor(private readonly db: Knex) {}

  async create(t: { tokenHash: string; purpose: AccountTokenPurpose; userId: number; email: string; returnTo: string | null; expiresAt: Date }): Promise<void> {
    await this.db('account_tokens').insert({ token_hash: t.tokenHash, purpose: t.purpose, user_id: t.userId, email: t.email, return_to: t.returnTo, expires_at: t.expiresAt });
  }

  /** The link as it stands, spent or not (to explain a refusal, or to show a form before spending it). */
  async find(tokenHash: string, purpose: AccountTokenPurpose): Promise<AccountToken | undefined> {
    const row = await this.db<Row>('account_tokens').where({ token_hash: tokenHash, purpose }).first();
    return row ? toToken(row) : undefined;
  }

  /**
   * Spends the link: one atomic UPDATE, so of any number of parallel uses exactly one gets the row
   * (and only while it is unused and unexpired); everyone else gets undefined.
   */
  async consume(trx: Knex.Transaction, tokenHash: string, purpose: AccountTokenPurpose): Promise<AccountToken | undefined> {
    const [row] = await trx<Row>('account_tokens')
      .where({ token_hash: tokenHash, purpose })
      .whereNull('used_at')
      .where('expires_at', '>', trx.fn.now())
      .update({ used_at: trx.fn.now() })
      .returning('*');
    return row ? toToken(row as Row) : undefined;
  }

  /** Spends every open link of these kinds of the user (a new password makes old reset links void). */
  spendAll(trx: Knex | Knex.Transaction, userId: number, purposes: AccountTokenPurpose[]): Promise<number> {
    return trx('account_tokens').where({ user_id: userId }).whereIn('purpose', purposes).whereNull('used_at').update({ used_at: trx.fn.now() });
  }

  /** Links expired or spent more than a day ago (kept that long so a second click gets "already used"). */
  deleteDead(now: Date): Promise<number> {
    const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000);
    return this.db('account_tokens').where('expires_at', '<', dayAgo).orWhere('used_at', '<', dayAgo).delete();
  }
}
