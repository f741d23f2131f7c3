import { SessionRepository } from '../http/session-store';
import { MailQueue } from '../mail/mail-queue';
import { mails } from '../mail/templates';
import { logger } from '../lib/logger';
import { Connection } from '../oauth/domain';
import { GrantService } from '../oauth/grants/grant.service';
import { Tx, UnitOfWork } from '../oauth/revocation/unit-of-work';
import { User, UserRepository } from './user.repository';

export interface DeletionResult {
  id: number;
  email: string;
  revokedGrants: number;
  bookmarks: number;
  privateRecipes: number;
  publishedRecipes: number;
  sessions: number;
}

/**
 * Bridged links (issue 15) end with the account like a disconnect: in the deletion's transaction
 * (their rows go with the user), then the upstream is told after the commit.
 */
export interface BridgedLinks<L = unknown> {
  endLinksOfUser(tx: Tx, userId: number): Promise<L[]>;
  revokeEndedAtUpstream(links: L[]): Promise<void>;
  settleRevokedGrants(): Promise<number>;
}

/** Accounts as operators see them, and life-cycle changes that touch more than the users table. */
export class AccountService {
  constructor(
    private readonly users: UserRepository,
    private readonly grants: GrantService,
    private readonly uow: UnitOfWork,
    private readonly sessions: SessionRepository,
    private readonly mail: MailQueue,
    private readonly bridged?: BridgedLinks,
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

  /** Disables the user and revokes every app link (grant) they have, with its tokens, at once (bridged links' upstreams are told). */
  async disableUser(userId: number): Promise<{ changed: boolean; revokedGrants: number }> {
    const result = await this.uow.run(async (tx) => {
      const changed = await this.users.disable(userId, tx.trx);
      const revokedGrants = await this.grants.revoke(tx, { userId }, 'admin');
      return { changed, revokedGrants };
    });
    if (result.revokedGrants && this.bridged) await this.bridged.settleRevokedGrants();
    return result;
  }

  /** What deleting the account would take with it (the warning names each connected app). */
  async deletionSummary(userId: number): Promise<{ connections: Connection[]; recipes: { published: number; private: number } }> {
    return { connections: await this.grants.listForUser(userId), recipes: await this.users.recipeCounts(userId) };
  }

  /**
   * Deletes the account, in one unit of work: every link and token is revoked (and every process
   * has heard it when this returns), every session signed out, the bookmarks and all recipes
   * deleted, then the user row, so the address can sign up again. The owner gets a last mail.
   * Bridged links end in the same transaction; their upstreams' revocation endpoints are called
   * after the commit (bounded, best effort: an upstream failure never blocks the deletion).
   * No password here: the page asks for it (AuthService.reauthenticate), the CLI is the operator.
   */
  async deleteUser(userId: number, by: 'user' | 'admin'): Promise<DeletionResult | undefined> {
    const result = await this.uow.run(async (tx) => {
      const user = await this.users.findById(userId, tx.trx);
      if (!user) return undefined;
      const revokedGrants = await this.grants.revoke(tx, { userId }, by);
      const bridgedLinks = this.bridged ? await this.bridged.endLinksOfUser(tx, userId) : [];
      const sessions = await this.sessions.deleteForUser(tx.trx, userId);
      const gone = await this.users.deleteWithContent(tx.trx, userId);
      return { user, revokedGrants, bridgedLinks, sessions, ...gone };
    });
    if (!result) return undefined;
    const { user, revokedGrants, bridgedLinks, sessions, bookmarks, privateRecipes, publishedRecipes } = result;
    if (bridgedLinks.length) await this.bridged!.revokeEndedAtUpstream(bridgedLinks).catch((err: unknown) => logger.warn({ reason: (err as Error).message }, 'account deletion: upstream revocation failed'));
    this.mail.enqueue(mails.accountDeleted(user.email, user.name));
    return { id: user.id, email: user.email, revokedGrants, sessions, bookmarks, privateRecipes, publishedRecipes };
  }
}

