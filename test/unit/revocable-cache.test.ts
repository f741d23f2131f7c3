import { AccessTokenInfo } from '../../src/oauth/domain';
import { createAccessTokenCache } from '../../src/oauth/revocation/revocable-cache';

const info = (over: Partial<AccessTokenInfo> = {}): AccessTokenInfo => ({
  tokenId: 1,
  grantId: 10,
  userId: 100,
  clientId: 'lbc_a',
  scope: ['read'],
  expiresAt: new Date(Date.now() + 60000),
  user: { id: 100, email: 'a@b.c', name: 'A' },
  ...over,
});

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
    const now = jest.spyOn(Date, 'now');
    try {
      const t0 = 1_800_000_000_000;
      now.mockReturnValue(t0);
      const cache = createAccessTokenCache();
      cache.onListening(true);
      cache.set('h', info({ expiresAt: new Date(t0 + 3600_000) }), cache.beginRead());
      now.mockReturnValue(t0 + 299_000);
      expect(cache.get('h')).toBeDefined();
      now.mockReturnValue(t0 + 301_000);
      expect(cache.get('h')).toBeUndefined();
    } finally {
      now.mockRestore();
    }
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
    cache.set('h', info({ expiresAt: new Date(Date.now() - 1) }), cache.beginRead());
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
