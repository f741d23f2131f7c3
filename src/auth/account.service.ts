import { Knex } from 'knex';
import { UserRepository } from './user.repository';

export interface GrantRevoker {
  revokeAllForUser(userId: number, trx: Knex.Transaction): Promise<number>;
  revocationsDelivered(): Promise<void>;
}

/** Account life-cycle changes that touch more than the users table, in one transaction. */
export class AccountService {
  constructor(
    private readonly db: Knex,
    private readonly users: UserRepository,
    private readonly grants: GrantRevoker,
  ) {}

  /** Disables the user and revokes every app link (grant) they have, with its tokens. */
  async disableUser(userId: number): Promise<{ changed: boolean; revokedGrants: number }> {
    const result = await this.db.transaction(async (trx) => {
      const changed = await this.users.disable(userId, trx);
      const revokedGrants = await this.grants.revokeAllForUser(userId, trx);
      return { changed, revokedGrants };
    });
    await this.grants.revocationsDelivered();
    return result;
  }
}
