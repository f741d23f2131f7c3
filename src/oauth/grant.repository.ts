import { Knex } from 'knex';
import { RevocationBus } from './revocation-bus';

export interface Grant {
  id: number;
  userId: number;
  clientId: number;
  scope: string[];
  alexaUserId: string | null;
  alexaLinkedAt: Date | null;
  createdAt: Date;
  revokedAt: Date | null;
}

interface GrantRow {
  id: number;
  user_id: number;
  client_id: number;
  scope: string[];
  alexa_user_id: string | null;
  alexa_linked_at: Date | null;
  created_at: Date;
  revoked_at: Date | null;
}

const toGrant = (r: GrantRow): Grant => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  clientId: Number(r.client_id),
  scope: r.scope,
  alexaUserId: r.alexa_user_id,
  alexaLinkedAt: r.alexa_linked_at,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

export interface Connection {
  grantId: number;
  clientName: string;
  scope: string[];
  createdAt: Date;
  alexaLinkedAt: Date | null;
}

type Db = Knex | Knex.Transaction;

export class GrantRepository {
  constructor(
    private readonly db: Knex,
    private readonly bus: RevocationBus,
  ) {}

  /** The user's live link with the client, created or widened to include `scope`. */
  async upsertLive(userId: number, clientId: number, scope: string[], trx: Db = this.db): Promise<Grant> {
    const { rows } = await trx.raw<{ rows: GrantRow[] }>(
      `INSERT INTO oauth_grants (user_id, client_id, scope) VALUES (?, ?, ?::text[])
       ON CONFLICT (user_id, client_id) WHERE revoked_at IS NULL
       DO UPDATE SET scope = ARRAY(SELECT DISTINCT s FROM unnest(oauth_grants.scope || EXCLUDED.scope) AS s ORDER BY s),
                     updated_at = now()
       RETURNING *`,
      [userId, clientId, scope],
    );
    return toGrant(rows[0]);
  }

  async findById(id: number, trx: Db = this.db): Promise<Grant | undefined> {
    const row = await trx<GrantRow>('oauth_grants').where({ id }).first();
    return row ? toGrant(row) : undefined;
  }

  /**
   * Revokes grants and everything issued under them, in `trx` or in a transaction of its own;
   * returns the ids of the grants that were live.
   */
  async revokeWhere(where: (q: Knex.QueryBuilder) => Knex.QueryBuilder, trx?: Knex.Transaction): Promise<number[]> {
    if (!trx) {
      const ids = await this.db.transaction((t) => this.revokeWhere(where, t));
      await this.bus.delivered();
      return ids;
    }
    const grants = (await where(trx('oauth_grants').whereNull('revoked_at')).update({ revoked_at: trx.fn.now(), updated_at: trx.fn.now() }).returning('id')) as Array<{ id: number }>;
    const ids = grants.map((g) => Number(g.id));
    if (ids.length) {
      await trx('oauth_access_tokens').whereIn('grant_id', ids).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
      await trx('oauth_refresh_tokens').whereIn('grant_id', ids).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
      await this.bus.publish({ grants: ids }, trx);
    }
    return ids;
  }

  async revoke(grantId: number, trx?: Knex.Transaction): Promise<number[]> {
    return this.revokeWhere((q) => q.where({ id: grantId }), trx);
  }

  /** After a revoking transaction the caller committed itself: wait until every process has heard. */
  revocationsDelivered(): Promise<void> {
    return this.bus.delivered();
  }

  async revokeAllForUser(userId: number, trx: Knex.Transaction): Promise<number> {
    return (await this.revokeWhere((q) => q.where({ user_id: userId }), trx)).length;
  }

  /** Revoked links kept for a while for the record; then they go, with what hangs off them. */
  async deleteRevokedBefore(before: Date): Promise<number> {
    return this.db('oauth_grants').where('revoked_at', '<', before).delete();
  }

  async listLiveForUser(userId: number): Promise<Connection[]> {
    const rows = await this.db('oauth_grants as g')
      .join('oauth_clients as c', 'c.id', 'g.client_id')
      .where('g.user_id', userId)
      .whereNull('g.revoked_at')
      .orderBy('g.created_at', 'desc')
      .select('g.id', 'c.name', 'g.scope', 'g.created_at', 'g.alexa_linked_at');
    return rows.map((r: { id: number; name: string; scope: string[]; created_at: Date; alexa_linked_at: Date | null }) => ({
      grantId: Number(r.id),
      clientName: r.name,
      scope: r.scope,
      createdAt: r.created_at,
      alexaLinkedAt: r.alexa_linked_at,
    }));
  }

  /**
   * Records which Alexa user a live grant is linked for (SkillAccountLinked). Idempotent: the same
   * user again changes nothing, so a replayed event keeps the first confirmation time; a revoked
   * grant is never touched.
   */
  async recordAlexaUser(grantId: number, alexaUserId: string, trx: Db = this.db): Promise<void> {
    await trx('oauth_grants')
      .where({ id: grantId })
      .whereNull('revoked_at')
      .where((q) => q.whereNull('alexa_user_id').orWhereNot('alexa_user_id', alexaUserId))
      .update({ alexa_user_id: alexaUserId, alexa_linked_at: trx.fn.now(), updated_at: trx.fn.now() });
  }

  /** SkillDisabled: revokes the client's live grants recorded for this Alexa user. */
  async revokeForAlexaUser(clientId: number, alexaUserId: string, trx?: Knex.Transaction): Promise<number> {
    return (await this.revokeWhere((q) => q.where({ client_id: clientId, alexa_user_id: alexaUserId }), trx)).length;
  }
}
