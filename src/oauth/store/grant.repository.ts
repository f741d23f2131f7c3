import { Knex } from 'knex';
import { Connection, Grant } from '../domain';

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

/** Which live grants a revocation applies to. */
export type GrantSelector = { id: number } | { userId: number } | { clientId: number; alexaUserId: string };

function whereSelected(q: Knex.QueryBuilder, s: GrantSelector): Knex.QueryBuilder {
  if ('id' in s) return q.where({ id: s.id });
  if ('alexaUserId' in s) return q.where({ client_id: s.clientId, alexa_user_id: s.alexaUserId });
  return q.where({ user_id: s.userId });
}

/** Users' links with clients (oauth_grants). Writes take the caller's transaction. */
export class GrantRepository {
  constructor(private readonly db: Knex) {}

  /** The user's live link with the client, created or widened to include `scope`. */
  async upsertLive(trx: Knex.Transaction, userId: number, clientId: number, scope: string[]): Promise<Grant> {
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

  /** Every grant of the user with the client, live or revoked, newest first (the admin's timeline). */
  async listForUserAndClient(userId: number, clientId: number): Promise<Grant[]> {
    const rows = await this.db<GrantRow>('oauth_grants').where({ user_id: userId, client_id: clientId }).orderBy('created_at', 'desc').orderBy('id', 'desc');
    return rows.map(toGrant);
  }

  /** The client's most recent grants with their users' emails (the admin's search by client). */
  async listForClient(clientId: number, limit: number): Promise<Array<Grant & { userEmail: string }>> {
    const rows = await this.db('oauth_grants as g')
      .join('users as u', 'u.id', 'g.user_id')
      .where('g.client_id', clientId)
      .orderBy('g.created_at', 'desc')
      .orderBy('g.id', 'desc')
      .limit(limit)
      .select('g.*', 'u.email as user_email');
    return rows.map((r: GrantRow & { user_email: string }) => ({ ...toGrant(r), userEmail: r.user_email }));
  }

  async findById(id: number): Promise<Grant | undefined> {
    const row = await this.db<GrantRow>('oauth_grants').where({ id }).first();
    return row ? toGrant(row) : undefined;
  }

  /** Revokes the selected live grants and every token issued under them; returns which they were. */
  async revoke(trx: Knex.Transaction, selector: GrantSelector): Promise<Array<{ id: number; userId: number; clientId: number }>> {
    const grants = (await whereSelected(trx('oauth_grants').whereNull('revoked_at'), selector)
      .update({ revoked_at: trx.fn.now(), updated_at: trx.fn.now() })
      .returning(['id', 'user_id', 'client_id'])) as Array<{ id: number; user_id: number; client_id: number }>;
    const ids = grants.map((g) => Number(g.id));
    if (ids.length) {
      await trx('oauth_access_tokens').whereIn('grant_id', ids).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
      await trx('oauth_refresh_tokens').whereIn('grant_id', ids).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
    }
    return grants.map((g) => ({ id: Number(g.id), userId: Number(g.user_id), clientId: Number(g.client_id) }));
  }

  /** The client's live grants recorded for an Alexa user (skill events). */
  async findLiveByAlexaUser(clientId: number, alexaUserId: string): Promise<Grant[]> {
    const rows = await this.db<GrantRow>('oauth_grants').where({ client_id: clientId, alexa_user_id: alexaUserId }).whereNull('revoked_at');
    return rows.map(toGrant);
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
  async recordAlexaUser(grantId: number, alexaUserId: string): Promise<void> {
    await this.db('oauth_grants')
      .where({ id: grantId })
      .whereNull('revoked_at')
      .where((q) => q.whereNull('alexa_user_id').orWhereNot('alexa_user_id', alexaUserId))
      .update({ alexa_user_id: alexaUserId, alexa_linked_at: this.db.fn.now(), updated_at: this.db.fn.now() });
  }
}
