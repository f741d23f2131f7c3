import { GrantService } from '../oauth/grants/grant.service';
import { UnitOfWork } from '../oauth/revocation/unit-of-work';
import { User, UserRepository } from './user.repository';

/** Accounts as operators see them, and life-cycle changes that touch more than the users table. */
export class AccountService {
  constructor(
    private readonly users: UserRepository,
    private readonly grants: GrantService,
    private readonly uow: UnitOfWork,
  ) {}

  list(): Promise<User[]> {
    return this.users.list();
  }

  count(): Promise<number> {
    return this.users.count();
  }

  findById(id: number): Promise<User | undefined> {
    return this.users.findById(id);
  }

  findByEmail(email: string): Promise<User | undefined> {
    return this.users.findByEmail(email);
  }

  /** Disables the user and revokes every app link (grant) they have, with its tokens, at once. */
  disableUser(userId: number): Promise<{ changed: boolean; revokedGrants: number }> {
    return this.uow.run(async (tx) => {
      const changed = await this.users.disable(userId, tx.trx);
      const revokedGrants = await this.grants.revoke(tx, { userId }, 'admin');
      return { changed, revokedGrants };
    });
  }
}

