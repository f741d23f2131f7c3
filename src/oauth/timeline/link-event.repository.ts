import { Knex } from 'knex';
import { LinkEvent, LinkEventType } from './link-event';

interface Row {
  id: number;
  user_id: number;
  client_id: number;
  grant_id: number | null;
  type: string;
  reason: string | null;
  occurred_at: Date;
}

const toEvent = (r: Row): LinkEvent & { id: number } => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  clientId: Number(r.client_id),
  grantId: r.grant_id === null ? null : Number(r.grant_id),
  type: r.type as LinkEventType,
  reason: r.reason,
  occurredAt: r.occurred_at,
});

/** oauth_link_events: the timeline of each link. */
export class LinkEventRepository {
  constructor(private readonly db: Knex) {}

  /**
   * One statement for a whole batch. Events of a user or client deleted meanwhile are skipped
   * (the join), so one vanished link cannot make the batch fail. Ids follow the batch's order
   * (ORDER BY the ordinality: the join may reorder rows), so events of the same millisecond are
   * listed in the order they happened.
   */
  async insertMany(events: readonly LinkEvent[], db: Knex | Knex.Transaction = this.db): Promise<number> {
    if (events.length === 0) return 0;
    const { rowCount } = (await db.raw(
      `INSERT INTO oauth_link_events (user_id, client_id, grant_id, type, reason, occurred_at)
       SELECT e.user_id, e.client_id, e.grant_id, e.type, e.reason, e.occurred_at
         FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::timestamptz[])
              WITH ORDINALITY AS e(user_id, client_id, grant_id, type, reason, occurred_at, n)
         JOIN users u ON u.id = e.user_id
         JOIN oauth_clients c ON c.id = e.client_id
        ORDER BY e.n`,
      // knex's binding types know no arrays with NULLs; pg sends these as SQL arrays (NULL included).
      [
        events.map((e) => e.userId),
        events.map((e) => e.clientId),
        events.map((e) => e.grantId),
        events.map((e) => e.type),
        events.map((e) => e.reason),
        events.map((e) => e.occurredAt.toISOString()),
      ] as unknown as string[][],
    )) as { rowCount: number };
    return rowCount;
  }

  /** The link's events, newest first. */
  async listForLink(userId: number, clientId: number, limit: number): Promise<Array<LinkEvent & { id: number }>> {
    const rows = await this.db<Row>('oauth_link_events')
      .where({ user_id: userId, client_id: clientId })
      .orderBy([{ column: 'occurred_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .limit(limit);
    return rows.map(toEvent);
  }

  /** When each grant last issued tokens (a code redeemed or a refresh). */
  async lastUsed(grantIds: readonly number[]): Promise<Map<number, Date>> {
    if (grantIds.length === 0) return new Map();
    const rows = (await this.db('oauth_link_events')
      .whereIn('grant_id', grantIds)
      .whereIn('type', ['code_redeemed', 'refreshed'])
      .groupBy('grant_id')
      .select('grant_id')
      .max({ at: 'occurred_at' })) as Array<{ grant_id: number; at: Date }>;
    return new Map(rows.map((r) => [Number(r.grant_id), r.at]));
  }

  /** Clients the user has a grant with or a timeline event for, most recent first. */
  async linkedClients(userId: number): Promise<number[]> {
    const { rows } = await this.db.raw<{ rows: Array<{ client_id: number }> }>(
      `SELECT client_id FROM (
         SELECT client_id, created_at AS at FROM oauth_grants WHERE user_id = ?
         UNION ALL
         SELECT client_id, occurred_at AS at FROM oauth_link_events WHERE user_id = ?
       ) x GROUP BY client_id ORDER BY max(at) DESC`,
      [userId, userId],
    );
    return rows.map((r) => Number(r.client_id));
  }

  /** Nothing older than `before`. */
  async deleteOlderThan(before: Date): Promise<number> {
    return this.db('oauth_link_events').where('occurred_at', '<', before).delete();
  }

  /** Only the newest `keep` events of each link (all links, or the ones named). */
  async keepNewest(keep: number, links?: ReadonlyArray<{ userId: number; clientId: number }>): Promise<number> {
    if (links && links.length === 0) return 0;
    const where = links ? 'WHERE (user_id, client_id) IN (SELECT * FROM unnest(?::bigint[], ?::bigint[]))' : '';
    const bindings = links ? [links.map((l) => l.userId), links.map((l) => l.clientId), keep] : [keep];
    const { rowCount } = (await this.db.raw(
      `DELETE FROM oauth_link_events e USING (
         SELECT id, row_number() OVER (PARTITION BY user_id, client_id ORDER BY occurred_at DESC, id DESC) AS n
           FROM oauth_link_events ${where}
       ) ranked
       WHERE e.id = ranked.id AND ranked.n > ?`,
      bindings,
    )) as { rowCount: number };
    return rowCount;
  }
}
