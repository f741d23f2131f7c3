import { NotFoundError } from '../../lib/errors';
import { Metrics } from '../../metrics/metrics';
import { Connection, Grant } from '../domain';
import { Tx, UnitOfWork } from '../revocation/unit-of-work';
import { GrantRepository, GrantSelector } from '../store/grant.repository';
import { RevokedBy } from '../timeline/link-event';
import { LinkTimeline } from '../timeline/link-timeline.service';

/** A live link as the Connected apps page shows it: when it was made and last issued tokens. */
export interface ConnectionWithUse extends Connection {
  lastUsedAt: Date | null;
}

/** Users' links with clients: listing them, recording Alexa users, and revoking them everywhere. */
export class GrantService {
  constructor(
    private readonly grants: GrantRepository,
    private readonly uow: UnitOfWork,
    private readonly timeline: LinkTimeline,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Revokes the selected live grants with their tokens inside `tx`, and records on each link's
   * timeline who ended it (committed with the revocation); returns how many.
   */
  async revoke(tx: Tx, selector: GrantSelector, by: RevokedBy): Promise<number> {
    const revoked = await this.grants.revoke(tx.trx, selector);
    tx.revoked({ grants: revoked.map((g) => g.id) });
    await this.timeline.recordIn(
      tx.trx,
      revoked.map((g) => ({ userId: g.userId, clientId: g.clientId, grantId: g.id, type: 'revoked', reason: `by ${by}` })),
    );
    this.metrics.revoked(by, revoked.length);
    return revoked.length;
  }

  /** The same in a transaction of its own; returns once every process has heard. */
  revokeNow(selector: GrantSelector, by: RevokedBy): Promise<number> {
    return this.uow.run((tx) => this.revoke(tx, selector, by));
  }

  /** The user revokes one of their own links (Connected apps). */
  async revokeOwn(userId: number, grantId: number): Promise<void> {
    const grant = await this.grants.findById(grantId);
    if (!grant || grant.userId !== userId || grant.revokedAt) throw new NotFoundError('No such connection.');
    await this.revokeNow({ id: grantId }, 'user');
  }

  /** The user's live links, each with when it last issued tokens (from its timeline). */
  async listForUser(userId: number): Promise<ConnectionWithUse[]> {
    const connections = await this.grants.listLiveForUser(userId);
    const lastUsed = await this.timeline.lastUsed(connections.map((c) => c.grantId));
    return connections.map((c) => ({ ...c, lastUsedAt: lastUsed.get(c.grantId) ?? null }));
  }

  findById(id: number): Promise<Grant | undefined> {
    return this.grants.findById(id);
  }

  findLiveByAlexaUser(clientId: number, alexaUserId: string): Promise<Grant[]> {
    return this.grants.findLiveByAlexaUser(clientId, alexaUserId);
  }

  recordAlexaUser(grantId: number, alexaUserId: string): Promise<void> {
    return this.grants.recordAlexaUser(grantId, alexaUserId);
  }

  deleteRevokedBefore(before: Date): Promise<number> {
    return this.grants.deleteRevokedBefore(before);
  }
}
