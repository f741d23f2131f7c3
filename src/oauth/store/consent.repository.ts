import { Knex } from 'knex';
import { PendingAuthorization } from '../domain';

/** Validated authorization requests waiting for the user's decision; each is consumed once. */
export class ConsentRepository {
  constructor(private readonly db: Knex) {}

  async create(idHash: string, userId: number, clientId: number, request: PendingAuthorization, expiresAt: Date): Promise<void> {
    await this.db('oauth_consent_requests').insert({ id_hash: idHash, user_id: userId, client_id: clientId, request: JSON.stringify(request), expires_at: expiresAt });
  }

  /**
   * Marks the request used and returns it, only for its own user, only once, only before it
   * expires: of N parallel submissions exactly one gets it.
   */
  async consume(idHash: string, userId: number): Promise<{ clientId: number; request: PendingAuthorization } | undefined> {
    const rows = (await this.db('oauth_consent_requests')
      .where({ id_hash: idHash, user_id: userId })
      .whereNull('used_at')
      .andWhere('expires_at', '>', new Date())
      .update({ used_at: this.db.fn.now() })
      .returning(['client_id', 'request'])) as Array<{ client_id: number; request: PendingAuthorization }>;
    const row = rows[0];
    return row ? { clientId: Number(row.client_id), request: row.request } : undefined;
  }

  async deleteExpired(): Promise<number> {
    return this.db('oauth_consent_requests').where('expires_at', '<', new Date(Date.now() - 3600 * 1000)).delete();
  }
}
