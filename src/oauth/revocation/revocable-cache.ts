import { AccessTokenInfo, OAuthClient } from '../domain';
import { RevocationEvent, RevocationListener } from './revocation-bus';

interface RevokedSets {
  grants: Set<number>;
  tokens: Set<number>;
  clients: Set<string>;
}

/**
 * A process-local cache of things that revocations invalidate (validated access tokens, clients).
 * It is on only while this process listens for revocations (RevocationBus): a lost listener turns
 * it off and empties it. A read that started before a revocation arrived is never stored (epoch
 * check), so a revoked value cannot be put back by a request that was already in flight.
 */
export class RevocableCache<V> implements RevocationListener {
  /**
   * In the order they were stored (a re-store moves an entry to the end), so the oldest are first:
   * what is past the backstop is dropped from the front as new entries come and by sweep(), so
   * memory holds at most the last 5 minutes' tokens (and up to a sweep's period more). storedAt is
   * in seconds since `origin`: a small integer, which V8 keeps inside the entry instead of boxing
   * it.
   */
  private readonly entries = new Map<string, { value: V; storedAt: number }>();
  private readonly origin = Date.now();
  private epoch = 0;
  private enabled = false;
  /** Look-up counts for the metrics (plain fields: nothing on the hot path but an increment). */
  readonly lookups = { hits: 0, misses: 0, off: 0 };

  constructor(
    private readonly isRevoked: (value: V, revoked: RevokedSets) => boolean,
    private readonly isExpired: (value: V, now: number) => boolean = () => false,
    private readonly maxEntries = 100_000,
    /**
     * A backstop: nothing is served from memory for longer, even if a change bypassed the
     * notifications (an operator's SQL). Revocations themselves arrive by NOTIFY within
     * milliseconds, and a lost listener empties and turns off the cache; 5 minutes covers a
     * skill session's calls, where 60 s made most of a user's next requests miss.
     */
    private readonly maxAgeMs = 300_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    if (!this.enabled) {
      this.lookups.off++;
      return undefined;
    }
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.lookups.misses++;
      return undefined;
    }
    const now = Date.now(); // once per look-up: this is the token check of every API request
    if (this.isExpired(entry.value, now) || this.ageMs(entry.storedAt, now) > this.maxAgeMs) {
      this.entries.delete(key);
      this.lookups.misses++;
      return undefined;
    }
    this.lookups.hits++;
    return entry.value;
  }

  /** The cached value, or `load()`'s, cached unless a revocation arrived while it loaded. */
  async getOrLoad(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const epoch = this.beginRead();
    const value = await load();
    if (value !== undefined) this.set(key, value, epoch);
    return value;
  }

  /** Call before reading the database; pass the result to `set`. */
  beginRead(): number {
    return this.epoch;
  }

  set(key: string, value: V, epochAtRead: number): void {
    if (!this.enabled || epochAtRead !== this.epoch) return;
    const now = Date.now();
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!); // the oldest makes room
    this.sweep(now, 2); // amortized: at most two entries past the backstop per store
    this.entries.set(key, { value, storedAt: Math.floor((now - this.origin) / 1000) });
  }

  /**
   * Drops every entry past the backstop (from the front: they are the oldest), so that a burst's
   * tokens do not stay in memory once the server is quiet and nothing new is stored (a timer in
   * main.ts); each store drops up to `limit` of them too. Returns how many went.
   */
  sweep(now = Date.now(), limit = Infinity): number {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if (dropped >= limit || this.ageMs(entry.storedAt, now) <= this.maxAgeMs) break;
      this.entries.delete(key);
      dropped++;
    }
    return dropped;
  }

  /** storedAt is rounded down to the second, so an age is never understated: nothing is kept past the backstop. */
  private ageMs(storedAt: number, now: number): number {
    return now - this.origin - storedAt * 1000;
  }

  onRevocation(event: RevocationEvent): void {
    this.epoch++;
    if (event.flush) {
      this.entries.clear();
      return;
    }
    const revoked = { grants: new Set(event.grants ?? []), tokens: new Set(event.tokens ?? []), clients: new Set(event.clients ?? []) };
    for (const [key, entry] of this.entries) if (this.isRevoked(entry.value, revoked)) this.entries.delete(key);
  }

  onListening(listening: boolean): void {
    this.epoch++;
    this.entries.clear();
    this.enabled = listening;
  }
}

/** Validated access tokens by hash: never past their expiry, gone with their grant, token or client. */
export const createAccessTokenCache = () =>
  new RevocableCache<AccessTokenInfo>(
    (info, r) => r.grants.has(info.grantId) || r.tokens.has(info.tokenId) || r.clients.has(info.clientId),
    (info, now) => info.expiresAtMs <= now,
  );

/** Clients by client_id: dropped when the client is changed, re-keyed or deleted. */
export const createClientCache = () =>
  new RevocableCache<OAuthClient>(
    (client, r) => r.clients.has(client.clientId),
    // A rotated-out secret stops working at its deadline even without an event.
    (client, now) => client.previousSecretExpiresAt !== null && client.previousSecretExpiresAt.getTime() <= now,
    10_000,
  );
