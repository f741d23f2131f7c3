import { Knex } from 'knex';
import { OAuthError } from '../../lib/errors';
import { RevocationBus, RevocationEvent } from './revocation-bus';

/** A transaction in progress, and what it has made invalid so far. */
export interface Tx {
  readonly trx: Knex.Transaction;
  /** Records what stopped being valid; every process hears of it once the transaction commits. */
  revoked(event: RevocationEvent): void;
}

/**
 * The one owner of "open a transaction, record the revocations, commit, wait until every process
 * heard them". Repositories take `tx.trx` and return what they changed; they never publish or
 * wait. Work may return an OAuthError instead of a result: the transaction still commits (a
 * replayed code's revocation, a reuse's revoked grant are kept) and the error is thrown after.
 */
export class UnitOfWork {
  constructor(
    private readonly db: Knex,
    private readonly bus: RevocationBus,
  ) {}

  async run<T>(work: (tx: Tx) => Promise<T | OAuthError>): Promise<T> {
    const events: RevocationEvent[] = [];
    const result = await this.db.transaction(async (trx) => {
      const out = await work({ trx, revoked: (e) => events.push(e) });
      // NOTIFY inside the transaction: PostgreSQL delivers it exactly when the change commits.
      if (events.length) await this.bus.publish(mergeEvents(events), trx);
      return out;
    });
    if (events.length) await this.bus.delivered();
    if (result instanceof OAuthError) throw result;
    return result;
  }
}

function mergeEvents(events: RevocationEvent[]): RevocationEvent {
  const merged: Required<RevocationEvent> = { grants: [], tokens: [], clients: [], flush: false };
  for (const e of events) {
    merged.grants.push(...(e.grants ?? []));
    merged.tokens.push(...(e.tokens ?? []));
    merged.clients.push(...(e.clients ?? []));
    merged.flush ||= e.flush === true;
  }
  return merged;
}
