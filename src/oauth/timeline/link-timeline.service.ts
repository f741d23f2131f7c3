import { Knex } from 'knex';
import { UserRepository } from '../../auth/user.repository';
import { NotFoundError } from '../../lib/errors';
import { logger } from '../../lib/logger';
import { ClientRepository } from '../clients/client.repository';
import { Grant, OAuthClient } from '../domain';
import { GrantRepository } from '../store/grant.repository';
import { LinkEvent } from './link-event';
import { LinkEventRepository } from './link-event.repository';

export interface TimelineSettings {
  /** The newest events kept per link (LINK_EVENTS_PER_LINK). */
  perLink: number;
  /** Nothing older is kept (LINK_EVENTS_MAX_AGE_DAYS). */
  maxAgeDays: number;
  /** How long an event may wait in memory before its batch is written. */
  flushIntervalMs?: number;
  /** Events held in memory at most (the database unreachable for long): the oldest are dropped. */
  maxBuffered?: number;
}

export type NewLinkEvent = Omit<LinkEvent, 'occurredAt' | 'grantId' | 'reason'> & { grantId?: number | null; reason?: string | null; occurredAt?: Date };

/** One link as an admin sees it: the client, the user's grants with it, and the events, newest first. */
export interface LinkView {
  client: OAuthClient;
  grants: Grant[];
  events: LinkEvent[];
}

/**
 * The timeline of every link. Two ways in, both cheap on the request paths:
 *  - `record`: in memory; written in one batch statement within a second (and at shutdown). The
 *    hot paths use it (a refresh, a code redeemed in one statement, the authorize and sign-in
 *    steps), so they pay no round trip. What is buffered when a process dies is lost: at most a
 *    second of events.
 *  - `recordIn(trx, ...)`: in a transaction that is open anyway (a refused refresh or code, a
 *    revocation), so the event commits with the change it describes.
 * Readers (admin pages, links:show, Connected apps) write this process's buffer first.
 */
export class LinkTimeline {
  private buffer: LinkEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;
  /**
   * Events written per link since this process last trimmed it. A link is trimmed to perLink
   * once every `slack` events (and on its first event in this process), not after every batch:
   * the trim reads the link's newest perLink rows, and after each batch it cost PostgreSQL more
   * than the refresh itself. So a link holds at most perLink + slack - 1 rows, reads show the
   * newest perLink, and tokens:cleanup trims exactly.
   */
  private readonly sinceTrim = new Map<string, { userId: number; clientId: number; n: number }>();
  readonly counts = { written: 0, dropped: 0 };

  constructor(
    private readonly events: LinkEventRepository,
    private readonly users: UserRepository,
    private readonly clients: ClientRepository,
    private readonly grants: GrantRepository,
    private readonly settings: TimelineSettings,
  ) {}

  get buffered(): number {
    return this.buffer.length;
  }

  private stamp(e: NewLinkEvent): LinkEvent {
    return { userId: e.userId, clientId: e.clientId, grantId: e.grantId ?? null, type: e.type, reason: e.reason ?? null, occurredAt: e.occurredAt ?? new Date() };
  }

  /** Buffers the event (no I/O now); the batch is written within flushIntervalMs. */
  record(e: NewLinkEvent): void {
    this.buffer.push(this.stamp(e));
    const max = this.settings.maxBuffered ?? 10_000;
    if (this.buffer.length > max) {
      const over = this.buffer.length - max;
      this.buffer.splice(0, over);
      this.counts.dropped += over;
    }
    if (!this.timer && !this.stopped) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.settings.flushIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Writes the events in the caller's transaction: they commit (or roll back) with it. */
  async recordIn(trx: Knex.Transaction, events: NewLinkEvent[]): Promise<void> {
    if (events.length) await this.events.insertMany(events.map((e) => this.stamp(e)), trx);
  }

  /** Writes what is buffered, in one statement, then trims the links it touched to perLink. */
  flush(): Promise<void> {
    this.flushing ??= this.writeBuffer().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async writeBuffer(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer.splice(0, 1000);
      try {
        await this.events.insertMany(batch);
        this.counts.written += batch.length;
        await this.trimBusyLinks(batch);
      } catch (err) {
        // Kept for the next attempt (bounded by maxBuffered); the database may be back by then.
        this.buffer.unshift(...batch);
        logger.warn({ err }, 'link timeline: could not write events; will retry');
        if (!this.stopped && !this.timer) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            void this.flush();
          }, 5000);
          this.timer.unref();
        }
        return;
      }
    }
  }

  private async trimBusyLinks(batch: LinkEvent[]): Promise<void> {
    const slack = Math.max(1, Math.ceil(this.settings.perLink / 10));
    const due: Array<{ userId: number; clientId: number }> = [];
    for (const e of batch) {
      const key = `${e.userId}:${e.clientId}`;
      let link = this.sinceTrim.get(key);
      if (!link) this.sinceTrim.set(key, (link = { userId: e.userId, clientId: e.clientId, n: slack - 1 }));
      if (++link.n >= slack) {
        link.n = 0;
        due.push(link);
      }
    }
    // Past 50k links the counters go: those with untrimmed events are trimmed now, and every link is
    // trimmed again at its next event (memory stays bounded, and so do the rows).
    if (this.sinceTrim.size > 50_000) {
      const queued = new Set(due);
      for (const link of this.sinceTrim.values()) if (link.n > 0 && !queued.has(link)) due.push(link);
      this.sinceTrim.clear();
    }
    for (let i = 0; i < due.length; i += 1000) await this.events.keepNewest(this.settings.perLink, due.slice(i, i + 1000));
  }

  /**
   * A sign-in on the way to an authorization (the return path is /oauth/authorize with a
   * client_id): on that link's timeline, found by the account the email belongs to. The email is
   * only looked up, never kept; a sign-in with an unknown email has no link to go on.
   */
  async recordSignIn(attempt: { succeeded: boolean; reason?: string; userId?: number; email: string; returnTo: string }): Promise<void> {
    const at = new Date(); // when it happened, not when the look-ups below finish
    const clientId = authorizeClientId(attempt.returnTo);
    if (clientId === undefined) return;
    const client = await this.clients.findByClientId(clientId);
    if (!client) return;
    const userId = attempt.userId ?? (attempt.email.length <= 254 ? (await this.users.findByEmail(attempt.email))?.id : undefined);
    if (userId === undefined) return;
    this.record({ userId, clientId: client.id, type: attempt.succeeded ? 'sign_in_succeeded' : 'sign_in_failed', reason: attempt.reason ?? null, occurredAt: at });
  }

  /** The client's most recent links (grants, live or revoked) with their users' emails. */
  async linksOfClient(clientId: string): Promise<{ client: OAuthClient; grants: Array<Grant & { userEmail: string }> }> {
    const client = clientId.length <= 200 ? await this.clients.findByClientId(clientId) : undefined;
    if (!client) throw new NotFoundError('No client with that client_id.');
    return { client, grants: await this.grants.listForClient(client.id, 100) };
  }

  /** At shutdown: no more timers; what is buffered is written. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** tokens:cleanup: nothing older than maxAgeDays, and the newest perLink of each link. */
  async prune(now = new Date()): Promise<number> {
    await this.flush();
    const aged = await this.events.deleteOlderThan(new Date(now.getTime() - this.settings.maxAgeDays * 24 * 3600 * 1000));
    return aged + (await this.events.keepNewest(this.settings.perLink));
  }

  /** When each grant last issued tokens (a code redeemed, a refresh), for Connected apps. */
  async lastUsed(grantIds: number[]): Promise<Map<number, Date>> {
    await this.flush();
    return this.events.lastUsed(grantIds);
  }

  /**
   * The links of the user with this email (canonical form), or only the one with `clientId`
   * (the public client_id): each with its grants and its events, newest first.
   */
  async show(email: string, clientId?: string): Promise<{ user: { id: number; email: string; name: string }; links: LinkView[] }> {
    const user = typeof email === 'string' && email.length <= 254 ? await this.users.findByEmail(email) : undefined;
    if (!user) throw new NotFoundError('No user with that email.');
    let clientIds: number[];
    if (clientId !== undefined) {
      const client = clientId.length <= 200 ? await this.clients.findByClientId(clientId) : undefined;
      if (!client) throw new NotFoundError('No client with that client_id.');
      clientIds = [client.id];
    } else {
      clientIds = await this.events.linkedClients(user.id);
    }
    await this.flush();
    const links: LinkView[] = [];
    for (const id of clientIds) {
      const client = await this.clients.findById(id);
      if (!client) continue;
      links.push({
        client,
        grants: await this.grants.listForUserAndClient(user.id, id),
        events: await this.events.listForLink(user.id, id, this.settings.perLink),
      });
    }
    return { user: { id: user.id, email: user.email, name: user.name }, links };
  }
}

/** The client_id of a same-origin return path to the authorization endpoint, if it is one. */
export function authorizeClientId(returnTo: string): string | undefined {
  if (!returnTo.startsWith('/oauth/authorize?')) return undefined;
  const id = new URLSearchParams(returnTo.slice('/oauth/authorize?'.length)).getAll('client_id');
  return id.length === 1 && id[0].length > 0 && id[0].length <= 200 ? id[0] : undefined;
}
