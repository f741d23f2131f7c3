import { NotFoundError } from '../../lib/errors';
import { Connection, Grant } from '../domain';
import { Tx, UnitOfWork } from '../revocation/unit-of-work';
import { GrantRepository, GrantSelector } from '../store/grant.repository';

/** Users' links with clients: listing them, recording Alexa users, and revoking them everywhere. */
export class GrantService {
  constructor(
    private readonly grants: GrantRepository,
    private readonly uow: UnitOfWork,
  ) {}

  /** Revokes the selected live grants with their tokens inside `tx`; returns how many. */
  async revoke(tx: Tx, selector: GrantSelector): Promise<number> {
    const ids = await this.grants.revoke(tx.trx, selector);
    tx.revoked({ grants: ids });
    return ids.length;
  }

  /** The same in a transaction of its own; returns once every process has heard. */
  revokeNow(selector: GrantSelector): Promise<number> {
    return this.uow.run((tx) => this.revoke(tx, selector));
  }

  /** The user revokes one of their own links (Connected apps). */
  async revokeOwn(userId: number, grantId: number): Promise<void> {
    const grant = await this.grants.findById(grantId);
    if (!grant || grant.userId !== userId || grant.revokedAt) throw new NotFoundError('No such connection.');
    await this.revokeNow({ id: grantId });
  }

  listForUser(userId: number): Promise<Connection[]> {
    return this.grants.listLiveForUser(userId);
  }

  findById(id: number): Promise<Grant | undefined> {
    return this.grants.findById(id);
  }

  recordAlexaUser(grantId: number, alexaUserId: string): Promise<void> {
    return this.grants.recordAlexaUser(grantId, alexaUserId);
  }

  deleteRevokedBefore(before: Date): Promise<number> {
    return this.grants.deleteRevokedBefore(before);
  }
}
