import { AccessTokenInfo } from '../../src/oauth/domain';
import { createAccessTokenCache } from '../../src/oauth/revocation/revocable-cache';

const info = (over: Partial<AccessTokenInfo> = {}): AccessTokenInfo => ({
  tokenId: 1,
  grantId: 10,
  userId: 100,
  clientId: 'lbc_a',
  scope: ['read'],
  expiresAtMs: Date.now() + 60000,
  user: { id: 100, email: 'a@b.c', name: 'A' },
  ...over,
});

const T0 = 1_800_000_000_000;

/** A listening cache on a clock the test moves: `at(ms)` sets the time to T0 + ms. */
function onClock(test: (cache: ReturnType<typeof createAccessTokenCache>, at: (ms: number) => void) => void): void {
  const now = jest.spyOn(Date, 'now');
  try {
    now.mockReturnValue(T0);
    const cache = createAccessTokenCache();
    cache.onListening(true);
    test(cache, (ms) => now.mockReturnValue(T0 + ms));
  } finally {
    now.mockRestore();
  }
}

describe('access token cache', () => {
  it('when the process is not listening for revocations, then nothing is cached', () => {
    const cache = createAccessTokenCache();
    cache.set('h', info(), cache.beginRead());
    expect(cache.get('h')).toBeUndefined();
  });

  it('when a token is cached and its grant, token or client is revoked, then it is gone', () => {
    const cache = createAccessTokenCache();
    cache.onListening(true);
    for (const event of [{ grants: [10] }, { tokens: [1] }, { clients: ['lbc_a'] }, { flush: true }]) {
      cache.set('h', info(), cache.beginRead());
      expect(cache.get('h')).toBeDefined();
      cache.onRevocation(event);
      expect(cache.get('h')).toBeUndefined();
    }
  });

  it('when a cached entry is 5 minutes old, then it is read again from the database (the backstop), even if the token lives longer', () => {
    onClock((cache, at) => {
      cache.set('h', info({ expiresAtMs: T0 + 3600_000 }), cache.beginRead());
      at(299_000);
      expect(cache.get('h')).toBeDefined();
      at(301_000);
      expect(cache.get('h')).toBeUndefined();
    });
  });

  it('when entries pass the 5-minute backstop, then new entries push them out: memory holds only the last 5 minutes', () => {
    onClock((cache, at) => {
      const long = { expiresAtMs: T0 + 3600_000 };
      for (let i = 0; i < 100; i++) cache.set(`old${i}`, info(long), cache.beginRead());
      at(200_000);
      cache.set('old0', info(long), cache.beginRead()); // stored again: now the newest
      at(301_000);
      for (let i = 0; i < 60; i++) cache.set(`new${i}`, info(long), cache.beginRead());
      expect(cache.size).toBe(61); // up to 2 dropped per store: the 99 old ones gone, the re-stored one kept
      expect(cache.get('old0')).toBeDefined();
      expect(cache.get('old1')).toBeUndefined();
    });
  });

  it('when the server goes quiet after a burst, then a sweep drops what passed the backstop and keeps the rest', () => {
    onClock((cache, at) => {
      const long = { expiresAtMs: T0 + 3600_000 };
      for (let i = 0; i < 100; i++) cache.set(`burst${i}`, info(long), cache.beginRead());
      at(100_000);
      for (let i = 0; i < 10; i++) cache.set(`later${i}`, info(long), cache.beginRead());
      at(299_000);
      expect(cache.sweep()).toBe(0); // nothing old enough yet
      at(301_000);
      expect(cache.sweep()).toBe(100); // nothing new was stored, yet the burst's tokens go
      expect(cache.size).toBe(10);
      expect(cache.get('later9')).toBeDefined();
      at(401_000);
      expect(cache.sweep()).toBe(10);
      expect(cache.size).toBe(0);
    });
  });

  it('when the cache is full, then the oldest entry makes room', () => {
    const cache = createAccessTokenCache();
    cache.onListening(true);
    for (let i = 0; i < 100_001; i++) cache.set(`k${i}`, info(), cache.beginRead());
    expect(cache.size).toBe(100_000);
    expect(cache.get('k0')).toBeUndefined();
    expect(cache.get('k100000')).toBeDefined();
  });

  it('when a revocation arrives while a read is in flight, then that read is not cached', () => {
    const cache = createAccessTokenCache();
    cache.onListening(true);
    const epoch = cache.beginRead();
    cache.onRevocation({ grants: [999] });
    cache.set('h', info(), epoch);
    expect(cache.get('h')).toBeUndefined();
  });

  it('when a token expires, then the cache stops returning it', () => {
    const cache = createAccessTokenCache();
    cache.onListening(true);
    cache.set('h', info({ expiresAtMs: Date.now() - 1 }), cache.beginRead());
    expect(cache.get('h')).toBeUndefined();
  });

  it('when the listener is lost, then the cache empties and turns off', () => {
    const cache = createAccessTokenCache();
    cache.onListening(true);
    cache.set('h', info(), cache.beginRead());
    cache.onListening(false);
    expect(cache.get('h')).toBeUndefined();
    cache.set('h', info(), cache.beginRead());
    expect(cache.size).toBe(0);
  });
});
